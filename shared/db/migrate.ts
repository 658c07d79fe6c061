import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql } from "./index.ts";

/**
 * The nearest directory above `from` that holds package.json: the repository root, whether this
 * file runs as TypeScript source (`shared/db/`) or compiled (`dist/shared/db/`).
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const MIGRATIONS_DIR = join(packageRoot(dirname(fileURLToPath(import.meta.url))), "migrations");

/** Arbitrary but fixed: every process that migrates takes this advisory lock first. */
const MIGRATION_LOCK_KEY = 727_274_001;

export interface MigrationFile {
  id: number;
  name: string;
  path: string;
}

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f));
  const migrations = files.map((name) => ({ id: Number.parseInt(name, 10), name, path: join(dir, name) }));
  migrations.sort((a, b) => a.id - b.id);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]?.id === migrations[i - 1]?.id)
      throw new Error(`Two migrations share number ${migrations[i]?.id}`);
  }
  return migrations;
}

/**
 * Applies every pending migration in ONE transaction under a transaction-scoped advisory lock, so
 * two processes starting at once serialize here and the second finds nothing left to do. Forward
 * only: a migration that has been applied is never edited, a fix is a new file.
 */
export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await listMigrations(dir);
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`
      create table if not exists schema_migrations (
        id integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`;
    const rows = await tx<{ id: number }[]>`select id from schema_migrations`;
    const applied = new Set(rows.map((r) => r.id));
    const done: string[] = [];
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      const text = await readFile(m.path, "utf8");
      await tx.unsafe(text); // trusted file from the repository, never user input
      await tx`insert into schema_migrations (id, name) values (${m.id}, ${m.name})`;
      done.push(m.name);
    }
    return done;
  });
}
