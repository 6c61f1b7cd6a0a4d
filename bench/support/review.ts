/**
 * The AdmissionReview the admission benches send: a ~4 KB Flyte task pod asking for three Azure Key Vault secrets
 * (FILE mount, so the Azure sidecar injector adds three init containers and one volume).
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { secretsToAnnotations } from '../../src/secret/annotations.js';
import { makeSecret, MountRequirement } from '../../src/secret/model.js';

/** The bench review as an object (`request.object` is the pod). */
export interface BenchReview {
  apiVersion: string;
  kind: string;
  request: { uid: string; namespace: string; object: Pod } & Record<string, unknown>;
}

/** A fresh copy of the bench review. */
export function benchReviewObject(): BenchReview {
  const secrets = ['db-password', 'api-key', 'storage-token'].map((name, i) =>
    makeSecret({ group: `https://flyte-prod-kv.vault.azure.net/secrets/${name}`, groupVersion: i === 0 ? '4f1a9c2e' : '', mountRequirement: MountRequirement.FILE }),
  );
  const env = Array.from({ length: 24 }, (_, i) => ({ name: `FLYTE_INTERNAL_VAR_${i}`, value: `value-${'x'.repeat(40)}-${i}` }));
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'ab3xk9mzq2-n0-0',
      namespace: 'flytesnacks-development',
      labels: { 'inject-flyte-secrets': 'true', 'azure.workload.identity/use': 'true', organization: 'flyte', project: 'flytesnacks', domain: 'development', 'execution-id': 'ab3xk9mzq2', 'node-id': 'n0', 'task-name': 'wf-t1' },
      annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false', ...secretsToAnnotations(secrets) },
    },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: 'flyte-workload',
      containers: [
        {
          name: 'primary',
          image: 'cr.flyte.org/flyteorg/flytekit:py3.12-1.14.0',
          args: ['pyflyte-fast-execute', '--additional-distribution', 's3://flyte/flytesnacks/development/ABCDEF.tar.gz', '--dest-dir', '/root', '--', 'pyflyte-execute', '--inputs', 's3://flyte/metadata/propeller/inputs.pb', '--output-prefix', 's3://flyte/metadata/propeller/ab3xk9mzq2/n0/data/0', '--raw-output-data-prefix', 's3://flyte/data/ab3xk9mzq2', '--resolver', 'flytekit.core.python_auto_container.default_task_resolver', '--', 'task-module', 'wf', 'task-name', 't1'],
          env,
          resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '500m', memory: '1Gi' } },
        },
      ],
    },
  };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: '2f3c9a1e-0b7d-4c55-9d2a-6e1f0a4b8c3d', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'flytesnacks-development', operation: 'CREATE', object: pod, dryRun: false },
  };
}
