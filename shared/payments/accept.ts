import { type AuditEntry, audit, byCaller } from "../audit.ts";
import type { Ctx } from "../context.ts";
import { type Db, isDeterministicFailure } from "../db/index.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "../errors.ts";
import { GroupCommit, type Outcome } from "../group-commit.ts";
import {
  assertQueueUp,
  findRecords,
  type IdempotentRequest,
  type IdempotentResult,
  keyId,
  keyInUse,
  replayOf,
  requestFingerprint,
  saveRecords,
  tryLockKeys,
} from "../idempotency.ts";
import { newId } from "../ids.ts";
import { requestsInProgress } from "../in-progress.ts";
import { accountOrderKey, partitionOf } from "../jobs.ts";
import { type AccountRow, systemAccountNumber } from "../ledger/index.ts";
import { formatAmount, parseAmount, parseCurrency } from "../money.ts";
import { paymentObject } from "./serialize.ts";
import { MAX_SPLITS, type Split } from "./splits.ts";
import type { CaptureMethod, PaymentRow, PaymentType } from "./types.ts";

export interface PaymentInput {
  from_account: string;
  /** Exactly one of `to_account` and `splits`. */
  to_account?: string | null;
  splits?: { to_account: string; amount: unknown }[] | null;
  amount: unknown;
  currency: unknown;
  description?: string | null;
  metadata?: Record<string, string> | null;
  capture_method?: CaptureMethod;
}

export interface TransferInput {
  to: string;
  amount: unknown;
  currency: unknown;
  from_account?: string | null;
  description?: string | null;
  metadata?: Record<string, string> | null;
}

export interface DepositInput {
  account_number: string;
  amount: unknown;
  currency: unknown;
  description?: string | null;
}

/** An unknown account and one the caller may not use look alike: 404 with the field's pointer. */
function accountMissing(pointer: string): NotFoundError {
  return new NotFoundError("account", "account_not_found", pointer);
}

/** The pending payment an acceptance decides to create. */
interface NewPayment {
  type: PaymentType;
  from: string;
  to: string;
  /** A split payment's payees (`to` is the first one's account), else null. */
  splits: Split[] | null;
  amount: bigint;
  currency: string;
  description: string | null;
  metadata: Record<string, string>;
  captureMethod: CaptureMethod;
}

/** What one acceptance needs read before it can be decided. */
interface Needs {
  accounts: string[];
  /**
   * The caller's oldest open account in a currency (a transfer without `from_account`), an active
   * one before a frozen one (which is then refused as frozen, not as missing).
   */
  own?: { ownerId: string; currency: string };
  /** A user's oldest open account in a currency, found by email (a transfer to an email), active first. */
  email?: { email: string; currency: string };
}

/** What was read for one acceptance. */
interface Found {
  account(accountNumber: string): AccountRow | null;
  own: AccountRow | null;
  email: AccountRow | null;
}

/**
 * One request to create a payment: who asks, its idempotency identity, what to read, and the
 * decision over what was read (a DomainError refuses it).
 */
interface Acceptance {
  ctx: Ctx;
  req: IdempotentRequest;
  needs: Needs;
  decide(found: Found): NewPayment;
}

/**
 * Reads what a whole group needs in at most three statements. Accounts are read without locking
 * them: the payment row's foreign keys keep them in existence, and a FOR SHARE here would queue
 * acceptance behind the posting workers' row locks on hot accounts.
 */
async function lookUp(tx: Db, group: Acceptance[]): Promise<(index: number) => Found> {
  const numbers = [...new Set(group.flatMap((a) => a.needs.accounts))];
  const own = group.flatMap((a, i) => (a.needs.own ? [{ i, ...a.needs.own }] : []));
  const email = group.flatMap((a, i) => (a.needs.email ? [{ i, ...a.needs.email }] : []));
  type Matched = AccountRow & { need: number };
  const [accounts, owned, emailed] = await Promise.all([
    numbers.length
      ? tx<AccountRow[]>`select * from accounts where account_number = any(${numbers}::text[])`
      : [],
    own.length
      ? tx<Matched[]>`
          select n.i as need, a.*
            from unnest(${own.map((o) => o.i)}::int[], ${own.map((o) => o.ownerId)}::text[],
                        ${own.map((o) => o.currency)}::text[]) as n(i, owner_id, currency)
            cross join lateral (
              select * from accounts a
               where a.owner_id = n.owner_id and a.currency = n.currency and a.status <> 'closed'
               order by a.status = 'active' desc, a.created_at limit 1) a`
      : [],
    email.length
      ? tx<Matched[]>`
          select n.i as need, a.*
            from unnest(${email.map((e) => e.i)}::int[], ${email.map((e) => e.email)}::text[],
                        ${email.map((e) => e.currency)}::text[]) as n(i, email, currency)
            cross join lateral (
              select a.* from accounts a join users u on u.id = a.owner_id
               where lower(u.email) = lower(n.email) and a.currency = n.currency and a.status <> 'closed'
               order by a.status = 'active' desc, a.created_at limit 1) a`
      : [],
  ]);
  const byNumber = new Map(accounts.map((r) => [r.account_number, r]));
  const byNeed = (rows: Matched[]) => new Map(rows.map(({ need, ...row }) => [need, row as AccountRow]));
  const ownOf = byNeed(owned);
  const emailOf = byNeed(emailed);
  return (i) => ({
    account: (n) => byNumber.get(n) ?? null,
    own: ownOf.get(i) ?? null,
    email: emailOf.get(i) ?? null,
  });
}

interface Planned {
  index: number;
  /** The payment row as inserted: its response is built before the insert returns. */
  row: PaymentRow;
  operationId: string;
  /** The payer's order key (operations.order_key) and the partition it maps to here. */
  orderKey: number;
  partition: number;
}

/** The pending payment row a decision creates, stamped with the group's time. */
function pendingRow(id: string, p: NewPayment, createdBy: string, now: Date): PaymentRow {
  return {
    id,
    type: p.type,
    status: "pending",
    from_account: p.from,
    to_account: p.to,
    splits: p.splits?.map((s) => ({ to_account: s.account, amount: String(s.amount) })) ?? null,
    amount: p.amount,
    currency: p.currency,
    capture_method: p.captureMethod,
    amount_capturable: 0n,
    amount_captured: 0n,
    amount_refunded: 0n,
    description: p.description,
    metadata: p.metadata,
    failure_code: null,
    failure_message: null,
    transaction_id: null,
    hold_expires_at: null,
    pending_action: null,
    pending_action_amount: null,
    created_by: createdBy,
    created_at: now,
    updated_at: now,
    completed_at: null,
  };
}

/** The group's payments and their posting operations, in acceptance order, in one statement. */
function insertPayments(db: Db, planned: Planned[]) {
  const rows = planned.map(({ row, operationId, orderKey }, i) => ({
    i,
    id: row.id,
    op_id: operationId,
    order_key: orderKey,
    type: row.type,
    from_account: row.from_account,
    to_account: row.to_account,
    splits: row.splits,
    amount: String(row.amount),
    currency: row.currency,
    capture_method: row.capture_method,
    description: row.description,
    metadata: row.metadata,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
  }));
  return db`
    with x as (
      select * from jsonb_to_recordset(${db.json(rows as never)})
        as x(i int, id text, op_id text, order_key bigint, type text, from_account text, to_account text, splits jsonb,
             amount bigint, currency text, capture_method text, description text, metadata jsonb, created_by text,
             created_at timestamptz)
    ), payment as (
      insert into payments (id, type, from_account, to_account, splits, amount, currency, capture_method, description,
                            metadata, created_by, created_at, updated_at)
      select id, type, from_account, to_account, splits, amount, currency, capture_method, description, metadata,
             created_by, created_at, created_at
        from x order by i
    )
    insert into operations (id, order_key, kind, payment_id)
    select op_id, order_key, 'payment', id from x order by i`;
}

/** Deposits are admin actions: each one gets an audit row (payments and transfers do not). */
function depositAudits(group: Acceptance[], planned: Planned[]): AuditEntry[] {
  return planned
    .filter((p) => p.row.type === "deposit")
    .map(({ index, row }) => ({
      ...byCaller(group[index]!.ctx),
      action: "deposit.create",
      target: { type: "payment", id: row.id },
      after: {
        account_number: row.to_account,
        amount: formatAmount(row.amount, row.currency),
        currency: row.currency,
        description: row.description,
      },
    }));
}

/**
 * Commits one group: every key locked and looked up, every account read, every acceptance decided,
 * the new payments, operations, idempotency records and deposits' audit rows written, in three
 * round trips and one COMMIT however many requests the group carries: BEGIN goes out with the
 * reads, COMMIT with the writes (the responses are built before the writes return, from the rows
 * as inserted). A refused request changes nothing; the others go on. After COMMIT, one nudge per
 * partition touched, which the answers do not wait for.
 */
async function commitGroup(group: Acceptance[]): Promise<Outcome<IdempotentResult>[]> {
  const services = group[0]!.ctx;
  const { config } = services;
  const refs = group.map((a) => ({ principal: a.ctx.principal.userId, key: a.req.key }));
  const hashes = group.map((a) => requestFingerprint(a.req.method, a.req.path, a.req.body));
  const outcomes: Outcome<IdempotentResult>[] = [];
  const planned: Planned[] = [];
  const db = await services.sql.reserve();
  try {
    // One round trip: BEGIN, the locks, then the stored records (a statement of their own, after
    // the locks), the accounts and the time. postgres.js sends a query on `.execute()` at once,
    // and on its first `await` a moment later, in the order of those awaits: BEGIN is sent with
    // `.execute()` so that the queries the helpers await follow it, inside the transaction.
    const begun = db`begin`.execute();
    const [, locked, stored, found, [clock]] = await Promise.all([
      begun,
      tryLockKeys(db, refs),
      findRecords(db, refs),
      lookUp(db, group),
      db<[{ now: Date }]>`select clock_timestamp() as now`,
    ]);
    // Millisecond precision, as the API shows it: the row and its response agree to the letter.
    const now = new Date(clock.now.getTime());
    const claimed = new Set<string>();
    group.forEach((a, i) => {
      try {
        if (!locked[i]) throw keyInUse();
        const id = keyId(refs[i]!);
        const replay = replayOf(stored.get(id), hashes[i]!);
        if (replay) {
          outcomes[i] = { ok: true, value: replay };
          return;
        }
        // The same key twice in one group: the later request is a concurrent duplicate of the first.
        if (claimed.has(id)) throw keyInUse();
        claimed.add(id);
        assertQueueUp(a.ctx);
        const payment = a.decide(found(i));
        planned.push({
          index: i,
          row: pendingRow(newId("pay"), payment, a.ctx.principal.userId, now),
          operationId: newId("op"),
          orderKey: accountOrderKey(payment.from),
          partition: partitionOf(payment.from, config.POSTING_PARTITIONS),
        });
      } catch (error) {
        outcomes[i] = { ok: false, error };
      }
    });
    const records = planned.map((p) => {
      const body = JSON.stringify(paymentObject(p.row));
      return { ...refs[p.index]!, hash: hashes[p.index]!, status: 202, body };
    });
    const audits = depositAudits(group, planned);
    // The second round trip: the writes, then COMMIT, each sent explicitly in that order. (Should
    // a write fail, Postgres answers the COMMIT with a rollback and the write's error rejects this.)
    const writes =
      planned.length > 0
        ? [
            insertPayments(db, planned).execute(),
            saveRecords(db, config.IDEMPOTENCY_TTL_HOURS, records).execute(),
            ...(audits.length > 0 ? [audit(db, ...audits).execute()] : []),
          ]
        : [];
    await Promise.all([...writes, db`commit`.execute()]);
    planned.forEach((p, j) => {
      outcomes[p.index] = { ok: true, value: { status: 202, body: records[j]!.body, replayed: false } };
    });
  } catch (err) {
    await db`rollback`.catch(() => {});
    throw err;
  } finally {
    db.release();
  }
  for (const p of planned) services.metrics.paymentsAccepted.inc({ type: p.row.type });
  // Sent after COMMIT, but not waited for: the answers are durable once committed, and a nudge
  // that fails or never leaves (the process dies) only delays posting until the reconciler's next
  // pass, as before. Waiting for Redis here held every request of the group, and the group's
  // commit slot, for one more round trip.
  void Promise.all(
    [...new Set(planned.map((p) => p.partition))].map((partition) =>
      services.queues
        .nudgePosting(partition)
        .catch((err) =>
          services.log.warn(
            { err: (err as Error).message, partition },
            "posting nudge after commit failed; the reconciler will catch up",
          ),
        ),
    ),
  );
  return outcomes;
}

/**
 * A group whose statements fail for good (one request's data broke a set-based statement) is
 * committed again one request at a time, so that request fails alone. Errors that may pass
 * (connection lost) fail the whole group: none of it committed.
 */
async function commitGroupIsolated(group: Acceptance[]): Promise<Outcome<IdempotentResult>[]> {
  try {
    return await commitGroup(group);
  } catch (err) {
    if (group.length === 1 || !isDeterministicFailure(err)) throw err;
    return Promise.all(
      group.map((a) =>
        commitGroup([a]).then(
          ([outcome]) => outcome!,
          (error: unknown) => ({ ok: false as const, error }),
        ),
      ),
    );
  }
}

/** One group committer per database pool (per process, in practice). */
const committers = new WeakMap<Ctx["sql"], GroupCommit<Acceptance, IdempotentResult>>();

function accept(ctx: Ctx, req: IdempotentRequest, needs: Needs, decide: Acceptance["decide"]) {
  let committer = committers.get(ctx.sql);
  if (!committer) {
    committer = new GroupCommit(commitGroupIsolated, {
      windowMs: ctx.config.ACCEPT_GROUP_WINDOW_MS,
      maxSize: ctx.config.ACCEPT_GROUP_MAX_SIZE,
      maxInFlight: ctx.config.ACCEPT_GROUP_CONCURRENCY,
      // Other requests in flight here may bring acceptances of their own: worth the window.
      busy: () => requestsInProgress.count > 1,
    });
    committers.set(ctx.sql, committer);
  }
  return committer.submit({ ctx, req, needs, decide });
}

function accountClosed(pointer: string): ValidationError {
  return ValidationError.field(pointer, "This account is closed.", "account_closed");
}

/** Checks both ends of a movement: they exist, are usable, differ, and share the currency. */
function checkEnds(from: AccountRow, to: AccountRow, currency: string, toPointer: string): void {
  if (from.account_number === to.account_number) {
    throw ValidationError.field(
      toPointer,
      "The destination must differ from the source account.",
      "same_account",
    );
  }
  // A frozen account receives but cannot pay; a closed one does neither (the ledger says the same
  // at posting, for what was accepted before a freeze or close: see refusedByStatus).
  if (from.status === "closed") throw accountClosed("/from_account");
  if (to.status === "closed") throw accountClosed(toPointer);
  if (from.status === "frozen") {
    throw ValidationError.field("/from_account", "This account is frozen: it cannot pay.", "account_frozen");
  }
  if (from.currency !== to.currency) {
    throw ValidationError.field(
      toPointer,
      `The accounts hold different currencies (${from.currency} and ${to.currency}).`,
      "currency_mismatch",
    );
  }
  if (currency !== from.currency) {
    throw ValidationError.field(
      "/currency",
      `The accounts hold ${from.currency}, not ${currency}.`,
      "currency_mismatch",
    );
  }
}

function mayDebit(ctx: Ctx, account: AccountRow | null): account is AccountRow {
  if (account?.kind !== "user") return false;
  return ctx.principal.role === "admin" || account.owner_id === ctx.principal.userId;
}

/** Between two user accounts (payments, transfers): both ends checked, then the payment to create. */
function between(
  ends: { from: AccountRow; to: AccountRow; toPointer: string; amount: bigint; currency: string },
  fields: {
    type: PaymentType;
    description?: string | null;
    metadata?: Record<string, string> | null;
    captureMethod: CaptureMethod;
  },
): NewPayment {
  checkEnds(ends.from, ends.to, ends.currency, ends.toPointer);
  return {
    type: fields.type,
    from: ends.from.account_number,
    to: ends.to.account_number,
    splits: null,
    amount: ends.amount,
    currency: ends.currency,
    description: fields.description ?? null,
    metadata: fields.metadata ?? {},
    captureMethod: fields.captureMethod,
  };
}

/**
 * A split payment's splits, checked as far as they can be without the database: 1 to MAX_SPLITS
 * of them, valid amounts adding up to the payment's exactly (else `splits_mismatch`), no account
 * twice.
 */
function parseSplits(splits: NonNullable<PaymentInput["splits"]>, amount: bigint, currency: string): Split[] {
  if (splits.length < 1 || splits.length > MAX_SPLITS) {
    throw ValidationError.field("/splits", `A payment has 1 to ${MAX_SPLITS} splits, not ${splits.length}.`);
  }
  const parsed = splits.map((s, i) => ({
    account: s.to_account,
    amount: parseAmount(s.amount, currency, `/splits/${i}/amount`),
  }));
  const seen = new Set<string>();
  parsed.forEach((s, i) => {
    if (seen.has(s.account)) {
      throw ValidationError.field(
        `/splits/${i}/to_account`,
        "Each split must pay a different account.",
        "duplicate_split_account",
      );
    }
    seen.add(s.account);
  });
  const total = parsed.reduce((sum, s) => sum + s.amount, 0n);
  if (total !== amount) {
    throw ValidationError.field(
      "/splits",
      `The splits add up to ${formatAmount(total, currency)}, not the payment's ${formatAmount(amount, currency)} ${currency}.`,
      "splits_mismatch",
    );
  }
  return parsed;
}

/**
 * POST /payments: the caller's account pays another account, or several at once (`splits`: one
 * ledger transaction, the first split's account is the merchant of record and the row's
 * `to_account`).
 */
export function createPayment(
  ctx: Ctx,
  input: PaymentInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  const currency = parseCurrency(input.currency);
  const amount = parseAmount(input.amount, currency);
  const fields = { ...input, type: "payment" as const, captureMethod: input.capture_method ?? "automatic" };
  if (input.splits && input.to_account) {
    throw ValidationError.field("/splits", "Give either to_account or splits, not both.");
  }
  if (!input.splits) {
    const toAccount = input.to_account;
    if (!toAccount) throw ValidationError.field("/to_account", "Give to_account or splits.");
    return accept(ctx, req, { accounts: [input.from_account, toAccount] }, (found) => {
      const from = found.account(input.from_account);
      if (!mayDebit(ctx, from)) throw accountMissing("/from_account");
      const to = found.account(toAccount);
      if (to?.kind !== "user") throw accountMissing("/to_account");
      return between({ from, to, toPointer: "/to_account", amount, currency }, fields);
    });
  }
  const splits = parseSplits(input.splits, amount, currency);
  const needs = { accounts: [input.from_account, ...splits.map((s) => s.account)] };
  return accept(ctx, req, needs, (found) => {
    const from = found.account(input.from_account);
    if (!mayDebit(ctx, from)) throw accountMissing("/from_account");
    const payees = splits.map((s, i) => {
      const pointer = `/splits/${i}/to_account`;
      const to = found.account(s.account);
      if (!to) throw accountMissing(pointer);
      if (to.kind !== "user") {
        throw ValidationError.field(pointer, "Splits can only pay user accounts.", "invalid_split_account");
      }
      checkEnds(from, to, currency, pointer);
      return to;
    });
    const first = { from, to: payees[0]!, toPointer: "/splits/0/to_account", amount, currency };
    return { ...between(first, fields), splits };
  });
}

/** POST /transfers: P2P to an account number or a user's email. */
export function createTransfer(
  ctx: Ctx,
  input: TransferInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  const currency = parseCurrency(input.currency);
  const amount = parseAmount(input.amount, currency);
  const byEmail = input.to.includes("@");
  const needs: Needs = {
    accounts: [...(input.from_account ? [input.from_account] : []), ...(byEmail ? [] : [input.to])],
    ...(input.from_account ? {} : { own: { ownerId: ctx.principal.userId, currency } }),
    ...(byEmail ? { email: { email: input.to, currency } } : {}),
  };
  return accept(ctx, req, needs, (found) => {
    const from = input.from_account ? found.account(input.from_account) : found.own;
    if (!mayDebit(ctx, from)) throw accountMissing("/from_account");
    const to = byEmail ? found.email : found.account(input.to);
    if (to?.kind !== "user") {
      throw new NotFoundError(`recipient with a ${currency} account`, "recipient_not_found", "/to");
    }
    return between(
      { from, to, toPointer: "/to", amount, currency },
      { ...input, type: "transfer", captureMethod: "automatic" },
    );
  });
}

/** POST /deposits (admin): money enters from the currency's external funding account. */
export function createDeposit(
  ctx: Ctx,
  input: DepositInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  if (ctx.principal.role !== "admin") throw new ForbiddenError("forbidden", "Only admins may make deposits.");
  const currency = parseCurrency(input.currency);
  const amount = parseAmount(input.amount, currency);
  return accept(ctx, req, { accounts: [input.account_number] }, (found) => {
    const to = found.account(input.account_number);
    if (to?.kind !== "user") throw accountMissing("/account_number");
    // A frozen account still receives money.
    if (to.status === "closed") throw accountClosed("/account_number");
    if (to.currency !== currency) {
      throw ValidationError.field(
        "/currency",
        `The account holds ${to.currency}, not ${currency}.`,
        "currency_mismatch",
      );
    }
    return {
      type: "deposit",
      from: systemAccountNumber("external", currency),
      to: to.account_number,
      splits: null,
      amount,
      currency,
      description: input.description ?? null,
      metadata: {},
      captureMethod: "automatic",
    };
  });
}
