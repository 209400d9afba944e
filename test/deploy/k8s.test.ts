import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/**
 * The Kubernetes manifests, checked offline: `kubectl kustomize` renders each overlay, every rendered
 * object validates against the Kubernetes OpenAPI schemas (kubernetes-models), and the structure the
 * deployment issue asks for is there (probes, resources, drain-friendly termination, HPAs, PDBs,
 * network policies, SIP over UDP). kubectl is part of the machine image: without it these tests fail.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}
interface Container {
  name: string;
  command?: string[];
  ports?: { containerPort: number; protocol?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  livenessProbe?: { httpGet?: { path: string; port: number | string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  containers: Container[];
}

function kustomize(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', `${root}${dir}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('kubectl not found on PATH: it is part of the machine image (kubectl >= 1.27 with kustomize); install it to render k8s/');
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

/** Validates one object with the kubernetes-models class for its apiVersion and kind (throws when there is none). */
async function validateObject(obj: K8sObject): Promise<void> {
  const module = (await import(`kubernetes-models/${obj.apiVersion}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = module[obj.kind];
  if (!Model) throw new Error(`kubernetes-models has no ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

const overlays = ['dev', 'prod'] as const;
const rendered = Object.fromEntries(overlays.map((o) => [o, kustomize(`k8s/overlays/${o}`)])) as Record<(typeof overlays)[number], K8sObject[]>;
const services = ['media-gateway', 'agent-orchestrator', 'mcp-broker', 'scheduler', 'mcp-tool-server'] as const;
const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const podSpec = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const drainSeconds = (objects: K8sObject[]) => {
  const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('switchboard-config'));
  return Number(config?.data?.['DRAIN_TIMEOUT_MS'] ?? 10_000) / 1000;
};

describe.each(overlays)('k8s overlay %s', (overlay) => {
  const objects = rendered[overlay];

  it('renders with kubectl kustomize into one namespace', () => {
    expect(objects.length).toBeGreaterThan(20);
    const namespaces = new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace));
    expect(namespaces.size).toBe(1);
  });

  it('every rendered object validates against the Kubernetes API schemas', async () => {
    const failures: string[] = [];
    for (const obj of objects) {
      try {
        await validateObject(obj);
      } catch (err) {
        failures.push(`${obj.kind}/${obj.metadata.name}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it.each(services)('%s: a Deployment with both probes, requests and limits, and termination longer than the drain', (name) => {
    const deployment = byKind(objects, 'Deployment').find((d) => d.metadata.name === name);
    expect(deployment, `Deployment ${name}`).toBeDefined();
    const spec = podSpec(deployment!);
    const [container] = spec.containers;
    expect(container!.command).toEqual(['node', `dist/apps/${name}/main.js`]);
    expect(container!.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(container!.livenessProbe?.httpGet?.path).toBe('/healthz');
    for (const resource of ['cpu', 'memory']) {
      expect(container!.resources?.requests?.[resource]).toBeDefined();
      expect(container!.resources?.limits?.[resource]).toBeDefined();
    }
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds(objects));
    const refs = (container!.envFrom ?? []).map((e) => e.configMapRef?.name ?? e.secretRef?.name);
    for (const ref of refs) {
      const exists = objects.some((o) => (o.kind === 'ConfigMap' || o.kind === 'Secret') && o.metadata.name === ref);
      // prod: the Secret is created out of band (see k8s/overlays/prod/kustomization.yaml).
      if (!(overlay === 'prod' && ref === 'switchboard-secrets')) expect(exists, `${ref} is rendered`).toBe(true);
    }
  });

  it.each(services)('%s: a ClusterIP Service for its HTTP port and a PodDisruptionBudget', (name) => {
    expect(byKind(objects, 'Service').some((s) => s.metadata.name === name)).toBe(true);
    const pdb = byKind(objects, 'PodDisruptionBudget').find((p) => p.metadata.name === name);
    expect((pdb?.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels).toEqual({ 'app.kubernetes.io/name': name });
  });

  it.each(['mcp-broker', 'agent-orchestrator', 'mcp-tool-server'])('%s has a HorizontalPodAutoscaler (autoscaling/v2)', (name) => {
    const hpa = byKind(objects, 'HorizontalPodAutoscaler').find((h) => h.metadata.name === name);
    expect(hpa?.apiVersion).toBe('autoscaling/v2');
    expect((hpa?.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name).toBe(name);
  });

  it('has NetworkPolicies: default deny plus the allowed flows', () => {
    const names = byKind(objects, 'NetworkPolicy').map((n) => n.metadata.name);
    expect(names).toEqual(expect.arrayContaining(['default-deny-ingress', 'infra-from-switchboard', 'services-http', 'media-gateway-public']));
  });

  it('exposes SIP over a UDP Service and the RTP range on the gateway nodes (hostNetwork)', () => {
    const sip = byKind(objects, 'Service').find((s) => s.metadata.name === 'media-gateway-sip');
    expect((sip?.spec as { ports: { port: number; protocol: string }[] }).ports).toEqual([expect.objectContaining({ port: 5060, protocol: 'UDP' })]);
    const gateway = byKind(objects, 'Deployment').find((d) => d.metadata.name === 'media-gateway')!;
    expect(podSpec(gateway).hostNetwork).toBe(true);
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('media-gateway-config'));
    expect(Number(config?.data?.['RTP_PORT_MAX'])).toBeGreaterThan(Number(config?.data?.['RTP_PORT_MIN']));
  });

  it('runs NATS with JetStream and Redis with AOF as StatefulSets with volumes', () => {
    const sets = Object.fromEntries(byKind(objects, 'StatefulSet').map((s) => [s.metadata.name, s]));
    expect(podSpec(sets['nats']!).containers[0]!).toMatchObject({ args: expect.arrayContaining(['-js']) });
    expect(podSpec(sets['redis']!).containers[0]!).toMatchObject({ args: expect.arrayContaining(['--appendonly', 'yes']) });
    for (const s of Object.values(sets)) expect((s.spec as { volumeClaimTemplates: unknown[] }).volumeClaimTemplates).toHaveLength(1);
  });
});

describe('offline validation', () => {
  it('rejects an invalid object (so the validation above can fail)', async () => {
    const deployment = structuredClone(byKind(rendered.dev, 'Deployment')[0]!);
    (deployment.spec as Record<string, unknown>)['replicas'] = 'two';
    await expect(validateObject(deployment)).rejects.toThrow(/replicas/);
  });

  it('rejects a kind it has no schema for', async () => {
    await expect(validateObject({ apiVersion: 'v1', kind: 'Gadget', metadata: { name: 'x' } })).rejects.toThrow(/no v1 Gadget/);
  });
});
