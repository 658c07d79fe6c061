import type { App } from "../../env.ts";
import { registerCreateApiKey } from "./api-keys-create.ts";
import { registerGetApiKey } from "./api-keys-get.ts";
import { registerListApiKeys } from "./api-keys-list.ts";
import { registerRevokeApiKey } from "./api-keys-revoke.ts";
import { registerLogin } from "./login.ts";
import { registerLogout } from "./logout.ts";
import { registerMe } from "./me.ts";
import { registerRefresh } from "./refresh.ts";
import { registerRegister } from "./register.ts";

/** Registers every auth and API key route (one file per route in this folder). */
export function registerAuthRoutes(app: App): void {
  registerRegister(app);
  registerLogin(app);
  registerRefresh(app);
  registerLogout(app);
  registerMe(app);
  registerCreateApiKey(app);
  registerListApiKeys(app);
  registerGetApiKey(app);
  registerRevokeApiKey(app);
}
