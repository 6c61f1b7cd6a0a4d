import { describe, expect, it } from 'vitest';
import { CliError } from './io.js';
import { parsePodText } from './pod-text.js';

describe('parsePodText', () => {
  it.each([
    ['YAML', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: []\n'],
    ['JSON', '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[]}}'],
    ['YAML with a leading document marker', '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: []\n'],
  ])('reads a bare Pod from %s', (_name, text) => {
    expect(parsePodText(text, 'pod')).toEqual({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } });
  });

  it.each([
    ['empty input', '', /pod: empty input; pass a Pod manifest/],
    ['two documents', 'kind: Pod\n---\nkind: Pod\n', /holds 2 documents; pass exactly one Pod/],
    ['invalid YAML', 'kind: [\n', /^pod: not valid YAML or JSON: Flow sequence .* \(line 1, column 7\)$/],
    ['duplicate keys', 'kind: Pod\nkind: Pod\n', /not valid YAML or JSON/],
    ['a list', '[1, 2]', /expected a Pod object, got a list/],
    ['null', 'null', /expected a Pod object, got null/],
    ['an AdmissionReview', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}', /this is an AdmissionReview; pass the bare Pod \(its request.object\) instead/],
    ['a Deployment', 'apiVersion: apps/v1\nkind: Deployment\n', /expected kind Pod, got "Deployment"/],
    ['another apiVersion', 'apiVersion: v2\nkind: Pod\n', /expected apiVersion v1 for a Pod, got "v2"/],
    ['a spec that is a string', 'kind: Pod\nspec: x\n', /the Pod's spec is not an object/],
  ])('refuses %s with exit code 1 and a message', (_name, text, message) => {
    let caught: unknown;
    try {
      parsePodText(text, 'pod');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CliError);
    expect((caught as CliError).exitCode).toBe(1);
    expect((caught as Error).message).toMatch(message);
  });
});
