// Standalone fake OpenAI for end-to-end runs: `PORT=4010 FAKE_OPENAI_SCRIPT=script.json tsx main.ts`.
// Prints `fake-openai listening on <url>` once listening; SIGTERM/SIGINT close it and exit 0.
import { readFile } from 'node:fs/promises';
import { parseScriptFile } from './script-file.ts';
import type { FakeOpenAIScript } from './script-file.ts';
import { startFakeOpenAI } from './server.ts';

async function main(): Promise<void> {
  const portText = process.env.PORT ?? '4010';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) throw new Error(`PORT must be a TCP port number, got "${portText}"`);
  const scriptPath = process.env.FAKE_OPENAI_SCRIPT;
  const script: FakeOpenAIScript = scriptPath ? parseScriptFile(await readFile(scriptPath, 'utf8'), scriptPath) : {};

  const fake = await startFakeOpenAI({ ...script, host: process.env.HOST ?? '127.0.0.1', port });
  process.stdout.write(`fake-openai listening on ${fake.url}\n`);

  const shutdown = (): void => {
    fake.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-openai: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
