/**
 * The broker's two API calls over `@kubernetes/client-node`: create a TokenReview, get a pod. Loaded only when the
 * broker runs (the client library is heavy).
 *
 * @module
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { raceAbort } from '../fetch/fetcher.js';
import type { BrokerKube, TokenReviewStatus } from './broker.js';
import { kubeApiError, kubeStatusOf } from './kube.js';

/**
 * A {@link BrokerKube} on `kc` (in-cluster: the webhook's service account, which needs `create tokenreviews` and
 * `get pods`).
 *
 * @example
 * ```ts
 * const kube = await createKubeBrokerApi(await loadKubeConfig());
 * ```
 */
export async function createKubeBrokerApi(kc: KubeConfig): Promise<BrokerKube> {
  const { AuthenticationV1Api, CoreV1Api } = await import('@kubernetes/client-node');
  const auth = kc.makeApiClient(AuthenticationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async reviewToken(token: string, audiences: string[], signal?: AbortSignal): Promise<TokenReviewStatus> {
      try {
        const review = await raceAbort(auth.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } }), signal);
        return (review.status ?? {});
      } catch (err) {
        throw kubeApiError(err, 'create a TokenReview');
      }
    },
    async readPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod | undefined> {
      try {
        return (await raceAbort(core.readNamespacedPod({ name, namespace }), signal)) as unknown as Pod;
      } catch (err) {
        if (kubeStatusOf(err)?.code === 404) return undefined;
        throw kubeApiError(err, `get pod ${namespace}/${name}`);
      }
    },
  };
}
