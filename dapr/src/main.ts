// The local sidecar's command line, with daprd's flag names:
//   node dapr/src/main.ts --app-id orders --app-port 4003 --dapr-http-port 3503 --dapr-grpc-port 50003 --resources-path components
// Other apps' sidecars are found through --peers (app-id=http://host:port,...) or AGORA_DAPR_PEERS.
import './telemetry.ts';
import { parseArgs } from 'node:util';
import { runMain } from '@agora/service';
import { startSidecar } from './sidecar.ts';

const { values } = parseArgs({
  options: {
    'app-id': { type: 'string' },
    'app-port': { type: 'string' },
    'app-channel-address': { type: 'string', default: '127.0.0.1' },
    'dapr-http-port': { type: 'string', default: '3500' },
    'dapr-grpc-port': { type: 'string', default: '50001' },
    'dapr-listen-addresses': { type: 'string', default: '127.0.0.1' },
    'resources-path': { type: 'string', multiple: true, default: [] },
    'log-level': { type: 'string', default: 'info' },
    peers: { type: 'string', default: process.env['AGORA_DAPR_PEERS'] ?? '' },
  },
  strict: true,
});

function port(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new Error(`--${name}: expected a TCP port number (got ${JSON.stringify(value)})`);
  return parsed;
}

function peers(list: string): Record<string, string> {
  const entries = list.split(',').filter(Boolean).map((entry) => {
    const [id, url] = entry.split('=');
    if (!id || !url || !URL.canParse(url)) throw new Error(`--peers: expected app-id=http://host:port[,...] (got ${JSON.stringify(entry)})`);
    return [id, url.replace(/\/$/, '')] as const;
  });
  return Object.fromEntries(entries);
}

await runMain('sidecar', async () => {
  const appId = values['app-id'];
  if (!appId) throw new Error('--app-id: required');
  const appPort = port('app-port', values['app-port']);
  return startSidecar({
    appId,
    ...(appPort === undefined ? {} : { appPort }),
    appHost: values['app-channel-address'],
    httpPort: port('dapr-http-port', values['dapr-http-port']) ?? 3500,
    grpcPort: port('dapr-grpc-port', values['dapr-grpc-port']) ?? 50001,
    host: values['dapr-listen-addresses'],
    resourcesPaths: values['resources-path'],
    peers: peers(values.peers),
    logLevel: values['log-level'],
  });
});
