/**
 * The web app's QR encoder, read back by an independent decoder (jsQR):
 * texts of many lengths (so versions with one block and with many, short
 * and long blocks, with and without version information), ASCII and
 * Cyrillic/Kazakh UTF-8, and an enrolment request's size.
 */
import jsQR from 'jsqr';
import { qrMatrix } from '../../../client/web/src/qr';

/** The matrix as an RGBA image: `scale` pixels a module, a 4-module light margin. */
function image(matrix: boolean[][], scale = 4): { data: Uint8ClampedArray; width: number } {
  const margin = 4;
  const width = (matrix.length + 2 * margin) * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  matrix.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let py = 0; py < scale; py++) {
        for (let px = 0; px < scale; px++) {
          const i = (((y + margin) * scale + py) * width + (x + margin) * scale + px) * 4;
          data[i] = data[i + 1] = data[i + 2] = 0;
        }
      }
    }),
  );
  return { data, width };
}

function read(text: string): { version: number; text: string | undefined } {
  const matrix = qrMatrix(text);
  const { data, width } = image(matrix);
  const found = jsQR(data, width, width, { inversionAttempts: 'dontInvert' });
  return { version: (matrix.length - 17) / 4, text: found ? new TextDecoder().decode(new Uint8Array(found.binaryData)) : undefined };
}

it.each([1, 10, 14, 20, 42, 100, 150, 200, 300, 400, 500, 650, 800, 1000])('reads back %i ASCII characters', (length) => {
  const text = Array.from({ length }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789{}":,'[(i * 7) % 41]).join('');
  expect(read(text).text).toBe(text);
});

it('reads back UTF-8 (Kazakh, Arabic) and grows the version with the text', () => {
  const text = 'Іс коды: ҚЗ-2026 — سحب الموافقة';
  expect(read(text).text).toBe(text);
  expect(read('x'.repeat(10)).version).toBe(1);
  expect(read('x'.repeat(400)).version).toBeGreaterThan(10);
});

it('refuses a text no QR code holds', () => {
  expect(() => qrMatrix('x'.repeat(3000))).toThrow(/too long/);
});
