import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One benchmark's figures as stored in `bench/results/latest.json` and printed in the table. */
export interface BenchResult {
  /** Stable key in `latest.json`: a later run of the same benchmark replaces its entry. */
  name: string;
  metrics: Record<string, number>;
  /** Goal per metric, written `≤ 5` or `≥ 2000` so the table can say whether it is met. */
  target?: Record<string, string>;
  /** How the figures were obtained, in a sentence or two. */
  notes?: string;
}

/** Summary of a latency sample, all in milliseconds. */
export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** The machine a result was measured on: figures from different machines do not compare. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  platform: string;
}

interface StoredResult extends BenchResult {
  timestamp: string;
  machine: MachineInfo;
}

interface ResultsFile {
  updatedAt: string;
  results: Record<string, StoredResult>;
}

export const RESULTS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');

/** Nearest-rank percentile of an ascending array (`p` in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** n, p50, p90, p99, mean, min and max of a sample in milliseconds (the input is not modified). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: n ? sum / n : Number.NaN,
    min: n ? (sorted[0] as number) : Number.NaN,
    max: n ? (sorted[n - 1] as number) : Number.NaN,
  };
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

function readResults(file: string): ResultsFile {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ResultsFile>;
    if (parsed && typeof parsed.results === 'object' && parsed.results !== null) return { updatedAt: String(parsed.updatedAt ?? ''), results: parsed.results };
  } catch {
    // Missing or unreadable: start afresh (the file is a generated artifact).
  }
  return { updatedAt: '', results: {} };
}

/**
 * Merges `results` into `bench/results/latest.json` (other benchmarks' entries are kept, same names
 * replaced), stamping each with the time and machine, and prints them as a plain-text table.
 */
export function recordResults(results: BenchResult[], file = RESULTS_FILE): void {
  const now = new Date().toISOString();
  const machine = machineInfo();
  mkdirSync(dirname(file), { recursive: true });
  const stored = readResults(file);
  for (const r of results) stored.results[r.name] = { ...r, timestamp: now, machine };
  stored.updatedAt = now;
  // Write then rename, so a reader (or a concurrent bench) never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stored, null, 2)}\n`);
  renameSync(tmp, file);
  console.log(formatTable(results));
  console.log(`\nmachine: ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}; written to ${file}`);
}

/** `met`, `MISSED`, or empty when the target is not of the form `≤ x` / `≥ x` (also `<=`, `>=`). */
export function targetStatus(value: number, target: string | undefined): string {
  const m = target?.match(/^\s*(≤|<=|≥|>=)\s*(-?[\d.,_]+)/);
  if (!m) return '';
  const bound = Number((m[2] as string).replace(/[,_]/g, ''));
  if (!Number.isFinite(bound) || !Number.isFinite(value)) return '';
  const ok = m[1] === '≤' || m[1] === '<=' ? value <= bound : value >= bound;
  return ok ? 'met' : 'MISSED';
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(2) : v.toFixed(3);
}

export function formatTable(results: BenchResult[]): string {
  const rows: string[][] = [['name', 'metric', 'value', 'target', 'status']];
  for (const r of results) {
    for (const [metric, value] of Object.entries(r.metrics)) {
      const target = r.target?.[metric];
      rows.push([r.name, metric, formatValue(value), target ?? '', targetStatus(value, target)]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  ').trimEnd(), ...rows.slice(1).map(line)];
  const notes = results.filter((r) => r.notes).map((r) => `${r.name}: ${r.notes}`);
  if (notes.length) out.push('', ...notes);
  return out.join('\n');
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (utime and stime,
 * fields 14 and 15, in ticks of 1/100 s); undefined when unknown (no pid, not Linux, process gone).
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Resident memory of a process in MB, from /proc/<pid>/status; NaN when unknown. */
export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
