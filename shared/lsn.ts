/** Postgres LSNs as text (X/Y) and as the number Debezium writes into `version`. */

/** '16/B374D848' -> 97500059720n; a decimal number is accepted as is. */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (m) return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
  if (/^[0-9]+$/.test(lsn.trim())) return BigInt(lsn.trim());
  throw new Error(`not an LSN: ${JSON.stringify(lsn)}`);
}

/** A 64-bit LSN (a bigint, or a decimal string as ClickHouse returns one) in Postgres' `X/Y` notation. */
export function formatLsn(v: bigint | string): string {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  return `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
}
