/**
 * The five Flyte-native secrets the Embedded benchmarks ask for: 2 at project scope, 2 at domain scope, 1 at org
 * scope, so a pod's cascade touches 9 (scope, secret) ids (project 1 each; domain 404 + 200; org 404 + 404 + 200).
 */
export const BENCH_SECRETS = [
  { scope: 'project', name: 'db-password' },
  { scope: 'project', name: 'api-key' },
  { scope: 'domain', name: 'registry-token' },
  { scope: 'domain', name: 'smtp-password' },
  { scope: 'org', name: 'license-key' },
] as const;
