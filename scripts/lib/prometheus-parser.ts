import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { venvDir } from './paths';

/** The Prometheus project's own Python client, whose text parser the e2e test reads the endpoint with. */
export const prometheusClientVersion = '0.26.0';

/** Installs the pinned prometheus-client into the project's .venv (created by the emulator's install), once; answers its python. */
export function ensurePrometheusClientInstalled(): string {
  const python = join(venvDir, 'bin', 'python');
  const marker = join(venvDir, `.prometheus-client-${prometheusClientVersion}`);
  if (existsSync(python) && existsSync(marker)) return python;
  console.log(`Installing prometheus-client ${prometheusClientVersion} into .venv …`);
  if (!existsSync(join(venvDir, 'bin', 'pip'))) run('python3', ['-m', 'venv', venvDir]);
  run(join(venvDir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `prometheus-client==${prometheusClientVersion}`]);
  writeFileSync(marker, '');
  return python;
}

/** One sample as prometheus_client's parser reads it. */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family as prometheus_client's parser reads it (a counter's name without `_total`). */
export interface ParsedFamily {
  name: string;
  type: string;
  documentation: string;
  samples: ParsedSample[];
}

// text_string_to_metric_families raises on anything the exposition format does not allow.
const parserScript = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = [
    {"name": f.name, "type": f.type, "documentation": f.documentation,
     "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())
]
print(json.dumps(families))
`;

/** Parses Prometheus text with the real parser (prometheus_client, in .venv); throws with its error when the text is not valid. */
export function parsePrometheusText(text: string): ParsedFamily[] {
  const python = ensurePrometheusClientInstalled();
  const result = spawnSync(python, ['-c', parserScript], { input: text, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`prometheus_client refused the text: ${result.stderr}`);
  return JSON.parse(result.stdout) as ParsedFamily[];
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? 'signal'})`);
}
