/**
 * `GET /v1/account/focus`: fal's FinOps FOCUS report as RFC 4180 CSV, built from the same
 * per-request events as /models/usage and /models/billing-events.
 *
 * - `source=invoice&billing_month=YYYY-MM`: the invoice issued in that month, for the charges of the month before
 *   (arrears). It is issued at INVOICE_ISSUE_OFFSET_MS into the billing month, after the longest billing lag, so it
 *   holds every event of its charge month. Before that, for a future month, or for a charge month wholly before the
 *   history: 404 `not_found`. Lines: one Usage line per endpoint × unit × unit price × discount (exact nano sums of
 *   the events), one per Serverless machine type × surge × price × discount, in every third month one late Model
 *   APIs usage line the estimates never showed (lateAdjustmentNano), one Tax line, and one Credit line (negative)
 *   when there was usage to credit.
 * - `source=estimate|tagged-estimate` with `start`/`end` (≤ 90 days, default the last 24 h): Usage lines per UTC day,
 *   no invoice id; `tagged-estimate` fills Tags.
 * - Accounts without FOCUS reports get 403.
 *
 * Text fields deliberately hold commas, double quotes and a newline, so a reader that splits lines breaks.
 */
import { type AccountModel, DAY_MS, type EndpointDef, ENDPOINTS, hash32, NANO_PER_USD, type World } from './data.js';
import { ApiError, DOCS_BASE } from './params.js';
import { compileFilter, type QueryEngine, type UsageLine } from './query.js';
import { serverlessOf } from './serverless.js';

export const FOCUS_DOCS = `${DOCS_BASE}/account/focus`;
export const CSV_TYPE = 'text/csv; charset=utf-8';

/** The invoice of billing month M is issued on M's 4th day at 06:00 UTC: 78 h after its charge month ends, past the 72 h maximum billing lag. */
const INVOICE_ISSUE_OFFSET_MS = 3 * DAY_MS + 6 * 3_600_000;
/** Sales tax in basis points of (usage − credit), floored to the nano-dollar. */
const TAX_RATE_BP = 825n;
/** Monthly promotional credit, capped at the month's usage. */
const MONTHLY_CREDIT_NANO = 25n * BigInt(NANO_PER_USD);

const MAX_ESTIMATE_RANGE_MS = 90 * DAY_MS;

/**
 * A late adjustment: in every third charge month (UTC month index divisible by 3) fal's invoice carries one more
 * Model APIs usage line than its usage estimates ever showed (usage metered after the month closed), so a
 * reconciliation of estimates against invoices has a known difference to find. Other months invoice exactly the
 * estimates.
 */
export const LATE_ADJUSTMENT_NANO = 4_321_987_654n;

/** The late adjustment (nano-USD) on the invoice of a charge month starting at `chargeStartMs`; 0n for most months. */
export function lateAdjustmentNano(chargeStartMs: number): bigint {
  const d = new Date(chargeStartMs);
  return (d.getUTCFullYear() * 12 + d.getUTCMonth()) % 3 === 0 ? LATE_ADJUSTMENT_NANO : 0n;
}

/** Column order of every report. `x_PercentDiscount` stands for a provider column the FOCUS spec does not define. */
export const FOCUS_COLUMNS = [
  'BillingAccountId',
  'BillingAccountName',
  'BillingAccountType',
  'BillingCurrency',
  'BillingPeriodStart',
  'BillingPeriodEnd',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'InvoiceId',
  'InvoiceIssuerName',
  'ServiceProviderName',
  'ServiceName',
  'ServiceCategory',
  'ServiceSubcategory',
  'SkuId',
  'SkuPriceId',
  'PricingCategory',
  'ListUnitPrice',
  'PricingQuantity',
  'PricingUnit',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ListCost',
  'EffectiveCost',
  'BilledCost',
  'SubAccountId',
  'SubAccountName',
  'Tags',
  'x_PercentDiscount',
] as const;

type FocusColumn = (typeof FOCUS_COLUMNS)[number];
export type FocusRow = Partial<Record<FocusColumn, string>>;

export interface Invoice {
  readonly account: string;
  readonly billingMonth: string;
  readonly invoiceId: string;
  readonly issuedAtMs: number;
  readonly chargeStartMs: number;
  readonly chargeEndMs: number;
  readonly rows: readonly FocusRow[];
  /** Exact nano-USD sums per ChargeCategory, and their total (what the invoice asks to be paid). */
  readonly usageNano: bigint;
  readonly taxNano: bigint;
  readonly creditNano: bigint;
  readonly totalNano: bigint;
}

// ---------------------------------------------------------------------------------------------
// Months and number text
// ---------------------------------------------------------------------------------------------

const MONTH = /^(\d{4})-(\d{2})$/;

/** UTC start (ms) of `YYYY-MM`, or undefined when the text is not a month. */
function parseMonth(text: string): number | undefined {
  const m = MONTH.exec(text);
  if (!m) return undefined;
  const month = Number(m[2]);
  return month >= 1 && month <= 12 ? Date.UTC(Number(m[1]), month - 1, 1) : undefined;
}

function addMonths(ms: number, n: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1);
}

function formatMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** When the invoice of a billing month (`YYYY-MM`) is issued. */
export function invoiceIssuedAtMs(billingMonth: string): number {
  const start = parseMonth(billingMonth);
  if (start === undefined) throw new Error(`emulator: not a month: ${billingMonth}`);
  return start + INVOICE_ISSUE_OFFSET_MS;
}

/** FOCUS date/time text: `YYYY-MM-DDTHH:mm:ssZ`. */
function focusTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

/** Exact decimal text of a nano-USD amount, with at least two decimals: 25 USD → "25.00", 0.045 USD → "0.045". */
export function nanoToDecimal(nano: bigint): string {
  const negative = nano < 0n;
  const abs = negative ? -nano : nano;
  const units = abs / 1_000_000_000n;
  let frac = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${negative ? '-' : ''}${units}.${frac}`;
}

function quantityText(k: number, def: EndpointDef): string {
  return def.unitDenominator === 1 ? String(k) : String(k / def.unitDenominator);
}

/** RFC 4180: a field with a comma, a double quote, CR or LF is quoted, and its quotes doubled. Lines end in CRLF. */
export function renderCsv(rows: readonly FocusRow[]): string {
  const field = (value: string | undefined): string => {
    const v = value ?? '';
    return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  };
  let out = FOCUS_COLUMNS.join(',') + '\r\n';
  for (const row of rows) out += FOCUS_COLUMNS.map((c) => field(row[c])).join(',') + '\r\n';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

function accountColumns(acct: AccountModel): FocusRow {
  // A name with a comma, so BillingAccountName needs quoting.
  const name = acct.def.organization ? `${acct.def.organization}, team ${acct.username}` : acct.username;
  return {
    BillingAccountId: acct.username,
    BillingAccountName: name,
    BillingAccountType: 'Team',
    BillingCurrency: 'USD',
  };
}

/** The columns every line shares: account, periods (charge period = billing period unless given), issuer and provider. */
function lineColumns(
  acct: AccountModel,
  billing: { start: number; end: number },
  period: { start: number; end: number } = billing,
): FocusRow {
  return {
    ...accountColumns(acct),
    BillingPeriodStart: focusTime(billing.start),
    BillingPeriodEnd: focusTime(billing.end),
    ChargePeriodStart: focusTime(period.start),
    ChargePeriodEnd: focusTime(period.end),
    InvoiceIssuerName: 'fal',
    ServiceProviderName: 'fal',
  };
}

function usageRow(
  world: World,
  acct: AccountModel,
  line: UsageLine,
  period: { start: number; end: number },
  billing: { start: number; end: number },
  tags: boolean,
): FocusRow {
  const def = ENDPOINTS[line.ep] as EndpointDef;
  const priceNano = BigInt(world.priceNano[line.ep]![line.pv]!);
  const price = nanoToDecimal(priceNano);
  const discounted = line.pct === 0 ? '' : `, ${line.pct}% "committed use" discount`;
  return {
    ...lineColumns(acct, billing, period),
    ChargeCategory: 'Usage',
    ChargeDescription: `${def.endpointId}: ${def.unit}s at $${price} per ${def.unit}${discounted}`,
    ChargeFrequency: 'Usage-Based',
    ServiceName: 'fal Model APIs',
    ServiceCategory: 'AI and Machine Learning',
    ServiceSubcategory: 'Generative AI',
    SkuId: def.endpointId,
    SkuPriceId: `${def.endpointId}|${def.unit}|${price}`,
    PricingCategory: 'Standard',
    ListUnitPrice: price,
    PricingQuantity: quantityText(line.k, def),
    PricingUnit: def.unit,
    ConsumedQuantity: quantityText(line.k, def),
    ConsumedUnit: def.unit,
    ListCost: nanoToDecimal(line.sub),
    EffectiveCost: nanoToDecimal(line.tot),
    BilledCost: nanoToDecimal(line.tot),
    Tags: tags ? JSON.stringify({ team: acct.username, 'fal:endpoint': def.endpointId }) : '',
    x_PercentDiscount: line.pct === 0 ? '' : String(line.pct),
  };
}

interface ServerlessInvoiceLine {
  readonly machineType: string;
  readonly isSurge: boolean;
  readonly unitPriceNano: number;
  readonly pct: number;
  deciseconds: number;
  subNano: bigint;
  totNano: bigint;
}

function serverlessLines(
  world: World,
  acct: AccountModel,
  startMs: number,
  endMs: number,
  asOfMs: number,
): ServerlessInvoiceLine[] {
  const lines = new Map<string, ServerlessInvoiceLine>();
  const events = serverlessOf(world).events(
    acct.username,
    Math.ceil(startMs / 1000),
    Math.ceil(endMs / 1000),
    Math.floor(asOfMs / 1000),
  );
  for (const e of events) {
    const key = `${e.machineType}|${e.isSurge}|${e.unitPriceNano}|${e.pct}`;
    let line = lines.get(key);
    if (line === undefined) {
      line = { ...e, deciseconds: 0, subNano: 0n, totNano: 0n };
      lines.set(key, line);
    }
    line.deciseconds += e.deciseconds;
    line.subNano += BigInt(e.subNano);
    line.totNano += BigInt(e.totNano);
  }
  return [...lines.values()].sort((a, b) =>
    a.machineType < b.machineType ? -1 : a.machineType > b.machineType ? 1 : 0,
  );
}

function serverlessRow(
  acct: AccountModel,
  line: ServerlessInvoiceLine,
  period: { start: number; end: number },
): FocusRow {
  const price = nanoToDecimal(BigInt(line.unitPriceNano));
  const seconds = String(line.deciseconds / 10);
  return {
    ...lineColumns(acct, period),
    ChargeCategory: 'Usage',
    ChargeDescription: `Serverless ${line.machineType}${line.isSurge ? ' (surge)' : ''}: seconds at $${price} per second`,
    ChargeFrequency: 'Usage-Based',
    ServiceName: 'fal Serverless',
    ServiceCategory: 'AI and Machine Learning',
    ServiceSubcategory: 'AI Platforms',
    SkuId: line.machineType,
    SkuPriceId: `${line.machineType}|second|${price}`,
    PricingCategory: line.isSurge ? 'Dynamic' : 'Standard',
    ListUnitPrice: price,
    PricingQuantity: seconds,
    PricingUnit: 'second',
    ConsumedQuantity: seconds,
    ConsumedUnit: 'second',
    ListCost: nanoToDecimal(line.subNano),
    EffectiveCost: nanoToDecimal(line.totNano),
    BilledCost: nanoToDecimal(line.totNano),
    x_PercentDiscount: line.pct === 0 ? '' : String(line.pct),
  };
}

function lateUsageRow(acct: AccountModel, period: { start: number; end: number }, nano: bigint): FocusRow {
  const amount = nanoToDecimal(nano);
  return {
    ...lineColumns(acct, period),
    ChargeCategory: 'Usage',
    ChargeDescription: 'Model APIs usage metered after the month closed',
    ChargeFrequency: 'Usage-Based',
    ServiceName: 'fal Model APIs',
    ServiceCategory: 'AI and Machine Learning',
    ServiceSubcategory: 'Generative AI',
    ListCost: amount,
    EffectiveCost: amount,
    BilledCost: amount,
  };
}

function adjustmentRow(
  acct: AccountModel,
  invoiceId: string,
  billing: { start: number; end: number },
  category: 'Tax' | 'Credit',
  nano: bigint,
  description: string,
): FocusRow {
  const amount = nanoToDecimal(nano);
  return {
    ...lineColumns(acct, billing),
    ChargeCategory: category,
    ChargeDescription: description,
    ChargeFrequency: 'One-Time',
    InvoiceId: invoiceId,
    ServiceName: 'fal Model APIs',
    ServiceCategory: 'AI and Machine Learning',
    ListCost: amount,
    EffectiveCost: amount,
    BilledCost: amount,
  };
}

/** Aggregated lines of the visible events in [startMs, endMs), by endpoint × price × discount (no auth), per `timeframe` bucket. */
function aggregate(
  engine: QueryEngine,
  acct: AccountModel,
  startMs: number,
  endMs: number,
  asOfMs: number,
  timeframe: 'day' | 'month',
) {
  return engine.usage(acct, {
    loSec: Math.ceil(startMs / 1000),
    hiSec: Math.ceil(endMs / 1000),
    nowSec: Math.floor(asOfMs / 1000),
    timeframe,
    filter: compileFilter(acct, {}),
    byAuth: false,
  });
}

/** The invoice of `billingMonth` as issued (regardless of the clock); undefined when its charge month lies wholly before the history. */
export function buildInvoice(
  world: World,
  engine: QueryEngine,
  acct: AccountModel,
  billingMonth: string,
): Invoice | undefined {
  const billingStart = parseMonth(billingMonth);
  if (billingStart === undefined) throw new Error(`emulator: not a month: ${billingMonth}`);
  const chargeStartMs = addMonths(billingStart, -1);
  const chargeEndMs = billingStart;
  if (chargeEndMs <= world.config.historyStartDay * DAY_MS) return undefined;
  const issuedAtMs = billingStart + INVOICE_ISSUE_OFFSET_MS;
  const invoiceId = `INV-${billingMonth.replace('-', '')}-${hash32(`invoice|${world.config.seed}|${acct.username}`).toString(16).padStart(8, '0').toUpperCase()}`;
  const period = { start: chargeStartMs, end: chargeEndMs };
  const rows: FocusRow[] = [];
  let usageNano = 0n;
  for (const line of aggregate(engine, acct, chargeStartMs, chargeEndMs, issuedAtMs, 'month').summary) {
    rows.push({ ...usageRow(world, acct, line, period, period, true), InvoiceId: invoiceId });
    usageNano += line.tot;
  }
  // fal invoices Serverless machine time too (its FOCUS invoice covers every product: Model APIs, Serverless,
  // Compute); one line per machine type × surge × price × discount, exact sums of the same events the
  // /serverless/usage buckets sum.
  for (const line of serverlessLines(world, acct, chargeStartMs, chargeEndMs, issuedAtMs)) {
    rows.push({ ...serverlessRow(acct, line, period), InvoiceId: invoiceId });
    usageNano += line.totNano;
  }
  const adjustment = lateAdjustmentNano(chargeStartMs);
  if (adjustment > 0n) {
    rows.push({ ...lateUsageRow(acct, period, adjustment), InvoiceId: invoiceId });
    usageNano += adjustment;
  }
  const creditNano = usageNano < MONTHLY_CREDIT_NANO ? usageNano : MONTHLY_CREDIT_NANO;
  const taxNano = ((usageNano - creditNano) * TAX_RATE_BP) / 10_000n;
  rows.push(
    adjustmentRow(
      acct,
      invoiceId,
      period,
      'Tax',
      taxNano,
      `Sales tax, ${Number(TAX_RATE_BP) / 100}% of net charges\nCalifornia, US`,
    ),
  );
  if (creditNano > 0n) {
    rows.push(
      adjustmentRow(
        acct,
        invoiceId,
        period,
        'Credit',
        -creditNano,
        'Promotional credit "Builders, welcome" (applied automatically)',
      ),
    );
  }
  return {
    account: acct.username,
    billingMonth,
    invoiceId,
    issuedAtMs,
    chargeStartMs,
    chargeEndMs,
    rows,
    usageNano,
    taxNano,
    creditNano,
    totalNano: usageNano + taxNano - creditNano,
  };
}

// ---------------------------------------------------------------------------------------------
// The route
// ---------------------------------------------------------------------------------------------

export interface FocusRequest {
  readonly world: World;
  readonly engine: QueryEngine;
  readonly nowMs: number;
  readonly account: AccountModel;
  readonly params: {
    single(name: string): string | undefined;
    enumSingle<T extends string>(name: string, allowed: readonly T[]): T | undefined;
    instant(name: string): number | undefined;
  };
}

/** The `source` a FOCUS request asks for: 403 when the account has no FOCUS reports, 400 without a valid source. */
export function focusSource(
  ctx: Pick<FocusRequest, 'account' | 'params'>,
  docsUrl: string,
): 'invoice' | 'estimate' | 'tagged-estimate' {
  if (!ctx.account.def.focusEnabled) {
    throw new ApiError(
      403,
      'authorization_error',
      'FOCUS reports are not enabled for this account. FOCUS billing exports are an enterprise feature: contact fal to enable them.',
      docsUrl,
    );
  }
  const source = ctx.params.enumSingle('source', ['invoice', 'estimate', 'tagged-estimate'] as const);
  if (source === undefined)
    throw new ApiError(
      400,
      'validation_error',
      'source is required: one of invoice, estimate, tagged-estimate',
      docsUrl,
    );
  return source;
}

export function focusReport(ctx: FocusRequest): { body: string; contentType: string } {
  const source = focusSource(ctx, FOCUS_DOCS);
  if (source === 'invoice') return { body: invoiceCsv(ctx), contentType: CSV_TYPE };
  return { body: estimateCsv(ctx, source === 'tagged-estimate'), contentType: CSV_TYPE };
}

/** The billing month (`YYYY-MM`) an invoice request asks for; 400 for a parameter that is not a month. */
export function requestedBillingMonth(params: FocusRequest['params'], nowMs: number, docsUrl: string): string {
  const monthParam = (name: string): number | undefined => {
    const text = params.single(name);
    if (text === undefined) return undefined;
    const ms = parseMonth(text);
    if (ms === undefined)
      throw new ApiError(400, 'validation_error', `Invalid ${name} '${text}': expected YYYY-MM`, docsUrl);
    return ms;
  };
  const billing = monthParam('billing_month');
  const charge = monthParam('charge_month');
  // billing_month wins; charge_month is the month before its invoice (arrears); neither means the current month.
  return formatMonth(billing ?? (charge === undefined ? addMonths(nowMs, 0) : addMonths(charge, 1)));
}

function invoiceCsv(ctx: FocusRequest): string {
  const billingMonth = requestedBillingMonth(ctx.params, ctx.nowMs, FOCUS_DOCS);
  const invoice = buildInvoice(ctx.world, ctx.engine, ctx.account, billingMonth);
  if (invoice === undefined || ctx.nowMs < invoice.issuedAtMs) {
    throw new ApiError(404, 'not_found', `No invoice has been issued for billing month ${billingMonth}`, FOCUS_DOCS);
  }
  return renderCsv(invoice.rows);
}

function estimateCsv(ctx: FocusRequest, tagged: boolean): string {
  const startMs = ctx.params.instant('start') ?? ctx.nowMs - DAY_MS;
  const endMs = ctx.params.instant('end') ?? ctx.nowMs;
  if (startMs >= endMs) throw new ApiError(400, 'validation_error', 'start must be before end', FOCUS_DOCS);
  if (endMs - startMs > MAX_ESTIMATE_RANGE_MS)
    throw new ApiError(400, 'validation_error', 'Date range cannot exceed 90 days', FOCUS_DOCS);
  const result = aggregate(ctx.engine, ctx.account, startMs, endMs, ctx.nowMs, 'day');
  const rows: FocusRow[] = [];
  for (const bucket of result.buckets) {
    const dayMs = bucket.bucketSec * 1000;
    const monthStart = addMonths(dayMs, 0);
    const billing = { start: monthStart, end: addMonths(monthStart, 1) };
    for (const line of bucket.lines)
      rows.push(usageRow(ctx.world, ctx.account, line, { start: dayMs, end: dayMs + DAY_MS }, billing, tagged));
  }
  return renderCsv(rows);
}
