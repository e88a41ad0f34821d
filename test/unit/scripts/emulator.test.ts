import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emulatorEnv, resolveTarget, startEmulator } from '../../../scripts/lib/emulator';

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('emulator target', () => {
  beforeEach(() => {
    delete process.env.AWS_ENDPOINT_URL;
    delete process.env.BATON_EMULATOR_PORT;
  });

  it('uses AWS_ENDPOINT_URL as an external emulator and starts nothing', () => {
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:4510/';

    expect(resolveTarget()).toEqual({ endpoint: 'http://127.0.0.1:4510', external: true });
  });

  it('defaults to MiniStack on 127.0.0.1:4566, or BATON_EMULATOR_PORT', () => {
    expect(resolveTarget()).toEqual({ endpoint: 'http://127.0.0.1:4566', external: false });
    process.env.BATON_EMULATOR_PORT = '4599';
    expect(resolveTarget().endpoint).toBe('http://127.0.0.1:4599');
    process.env.BATON_EMULATOR_PORT = 'eighty';
    expect(() => resolveTarget()).toThrow(/BATON_EMULATOR_PORT/);
  });

  it('points every SDK and the CDK at the endpoint, S3 included', () => {
    const env = emulatorEnv('http://127.0.0.1:4566');

    expect(env).toMatchObject({ AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4566', CDK_DEFAULT_ACCOUNT: '000000000000' });
  });
});

describe('starting the emulator on a busy port', () => {
  let blocker: Server;
  let sockets: Socket[];

  beforeEach(async () => {
    delete process.env.AWS_ENDPOINT_URL;
    sockets = [];
    blocker = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    // close() waits for open connections (the port probe's): end them first.
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => blocker.close(resolve));
  });

  it('fails at once with a message that says what to do, instead of hanging', async () => {
    const address = blocker.address();
    process.env.BATON_EMULATOR_PORT = String(typeof address === 'object' && address ? address.port : 0);
    const began = Date.now();

    await expect(startEmulator()).rejects.toThrow(/already in use.*\n.*BATON_EMULATOR_PORT=.*\n.*AWS_ENDPOINT_URL=/s);
    expect(Date.now() - began).toBeLessThan(10_000);
  });
});

describe('an external emulator that is not there', () => {
  it('is reported, not waited for', async () => {
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';

    await expect(startEmulator()).rejects.toThrow(/nothing answers there/);
  });
});
