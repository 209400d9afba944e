import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';

const VERSION = 'v1';

/**
 * Header secrets at rest: AES-256-GCM with a random 96-bit IV per value, the record id and account
 * bound in as associated data (a sealed value copied into another record does not open). The key is
 * `SECRETS_KEY` (base64, 32 bytes); it never leaves the process and is never logged.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** From `SECRETS_KEY`; undefined when unset. A key that is not 32 bytes of base64 is a config error. */
  static fromBase64(b64: string | undefined): SecretBox | undefined {
    if (!b64) return undefined;
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `SECRETS_KEY must be 32 bytes of base64 (got ${key.length} bytes)`);
    return new SecretBox(key);
  }

  /** `v1.<base64url(iv | tag | ciphertext)>` */
  seal(plain: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
  }

  /** Throws when the value was sealed with another key, for another record, or was altered. */
  open(sealed: string, aad: string): string {
    const [version, body] = sealed.split('.', 2);
    if (version !== VERSION || !body) throw new SwitchboardError(ErrorCodes.INTERNAL_ERROR, 'stored secret has an unknown format');
    const raw = Buffer.from(body, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new SwitchboardError(ErrorCodes.INTERNAL_ERROR, 'stored secret does not open with SECRETS_KEY (wrong key or altered record)');
    }
  }
}
