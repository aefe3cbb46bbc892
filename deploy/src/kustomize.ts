import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';

/**
 * A small subset of kustomize, in TypeScript, so that the manifests under deploy/k8s can be
 * rendered and checked on a machine without kubectl. It supports exactly the fields the
 * kustomizations here use and refuses any other, so a new field cannot be silently ignored:
 * `resources` (files and kustomization folders), `namespace`, `labels` (metadata only),
 * `images`, `replicas` and inline JSON 6902 `patches` with a kind/name target.
 * deploy/test/kubernetes.test.ts renders every overlay with `kubectl kustomize` too, where kubectl
 * is installed, and requires both renderings to be equal.
 */

export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

interface PatchTarget {
  kind?: string;
  name?: string;
}

interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string }[];
  replicas?: { name: string; count: number }[];
  patches?: { target: PatchTarget; patch: string }[];
}

const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'labels', 'images', 'replicas', 'patches']);

/** Kinds the namespace transformer leaves alone (cluster-scoped). */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass']);

export class KustomizeError extends Error {
  override name = 'KustomizeError';
}

/** Renders the kustomization in `dir` like `kubectl kustomize dir`, for the fields listed above. */
export function kustomize(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new KustomizeError(`${dir} has no kustomization.yaml`);
  const spec = parse(readFileSync(file, 'utf8')) as Kustomization;
  for (const field of Object.keys(spec)) {
    if (!SUPPORTED_FIELDS.has(field)) throw new KustomizeError(`${file}: field "${field}" is not supported by this renderer`);
  }

  let manifests: Manifest[] = [];
  for (const entry of spec.resources ?? []) {
    const path = resolve(dir, entry);
    manifests.push(...(statSync(path).isDirectory() ? kustomize(path) : readManifests(path)));
  }

  // kustomize's order of built-in transformers: patches, namespace, labels, replicas, images.
  for (const { target, patch } of spec.patches ?? []) {
    const operations = parse(patch) as PatchOperation[];
    const matched = manifests.filter((m) => (target.kind === undefined || m.kind === target.kind) && (target.name === undefined || m.metadata.name === target.name));
    if (matched.length === 0) throw new KustomizeError(`${file}: patch target ${JSON.stringify(target)} matches no resource`);
    manifests = manifests.map((m) => (matched.includes(m) ? applyJsonPatch(m, operations, file) : m));
  }
  if (spec.namespace !== undefined) {
    const namespace = spec.namespace;
    manifests = manifests.map((m) => (CLUSTER_SCOPED.has(m.kind) ? m : { ...m, metadata: { ...m.metadata, namespace } }));
  }
  for (const { pairs, includeSelectors, includeTemplates } of spec.labels ?? []) {
    if (includeSelectors === true || includeTemplates === true) throw new KustomizeError(`${file}: labels with selectors or templates are not supported by this renderer`);
    manifests = manifests.map((m) => ({ ...m, metadata: { ...m.metadata, labels: { ...m.metadata.labels, ...pairs } } }));
  }
  for (const { name, count } of spec.replicas ?? []) {
    const matched = manifests.filter((m) => m.metadata.name === name && ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(m.kind));
    if (matched.length === 0) throw new KustomizeError(`${file}: replicas for ${name} match no workload`);
    manifests = manifests.map((m) => (matched.includes(m) ? applyJsonPatch(m, [{ op: 'add', path: '/spec/replicas', value: count }], file) : m));
  }
  for (const image of spec.images ?? []) {
    manifests = manifests.map((m) => setImage(m, image));
  }
  return manifests;
}

/** Every non-empty YAML document of a file. */
export function readManifests(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((document) => {
      if (document.errors.length > 0) throw new KustomizeError(`${path}: ${document.errors.map((e) => e.message).join('; ')}`);
      return document.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

function applyJsonPatch(manifest: Manifest, operations: PatchOperation[], file: string): Manifest {
  const copy = structuredClone(manifest);
  for (const { op, path, value } of operations) {
    const keys = path.split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    if (last === undefined) throw new KustomizeError(`${file}: patch path "${path}" is empty`);
    let node: unknown = copy;
    for (const key of keys) {
      node = (node as Record<string, unknown> | undefined)?.[key];
      if (typeof node !== 'object' || node === null) throw new KustomizeError(`${file}: patch path "${path}" does not exist in ${manifest.kind}/${manifest.metadata.name}`);
    }
    const parent = node as Record<string, unknown>;
    if (op !== 'add' && !(last in parent)) throw new KustomizeError(`${file}: cannot ${op} missing "${path}" in ${manifest.kind}/${manifest.metadata.name}`);
    if (op === 'remove') Reflect.deleteProperty(parent, last);
    else parent[last] = value;
  }
  return copy;
}

function setImage(manifest: Manifest, image: { name: string; newName?: string; newTag?: string }): Manifest {
  const podSpec = (manifest['spec'] as { template?: { spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[] } } } | undefined)?.template?.spec;
  if (!podSpec) return manifest;
  const copy = structuredClone(manifest);
  const copySpec = (copy['spec'] as { template: { spec: { containers?: { image?: string }[]; initContainers?: { image?: string }[] } } }).template.spec;
  for (const container of [...(copySpec.containers ?? []), ...(copySpec.initContainers ?? [])]) {
    if (container.image === undefined) continue;
    const [name, tag] = splitImage(container.image);
    if (name !== image.name) continue;
    const newTag = image.newTag ?? tag;
    container.image = `${image.newName ?? name}${newTag === undefined ? '' : `:${newTag}`}`;
  }
  return copy;
}

/** `registry:5000/app:1.2` -> [`registry:5000/app`, `1.2`]; a colon before the last slash is a port. */
function splitImage(image: string): [string, string | undefined] {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? [image.slice(0, colon), image.slice(colon + 1)] : [image, undefined];
}
