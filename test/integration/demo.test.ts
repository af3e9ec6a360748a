/** `npm run demo` from the repository: exits 0 and shows what the issue promises. */
import { execFile } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

it('plays the whole journey on the embedded store', async () => {
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(ROOT, 'examples/demo.ts')],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, timeout: 120_000 },
      (err, out) => resolve({ code: err ? 1 : 0, stdout: out }),
    );
  });
  expect(code).toBe(0);
  expect(stdout).toContain('survivor name as the shelter sees it: Aigerim Nurlanovna');
  expect(stdout).toContain('IOM holds the referral too, without health needs: yes');
  expect(stdout).toMatch(/Shelter Istanbul: purged=yes, messages still held=0, receipts from iom-ist, ngo-taraz, shelter-ist, complete=yes/);
  expect(stdout).toContain("the survivor's name appears in stored bytes: no");
  expect(stdout).toContain('Demo finished.');
}, 150_000);
