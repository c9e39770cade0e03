import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServingCert {
  /** PEM; self-signed, so it is also the certificate authority clients trust. */
  cert: string;
  key: string;
}

let cached: ServingCert | undefined;

/**
 * A self-signed serving certificate for 127.0.0.1 and localhost, made with openssl at test time (an EC key:
 * quick to make). Clients verify it like kind's CA: Go (kubectl) and Node both check the SAN.
 */
export function servingCert(): ServingCert {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'kube-api-double-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2',
        '-subj', '/CN=kube-api-double',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
        '-addext', 'extendedKeyUsage=serverAuth',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    cached = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
    return cached;
  } catch (error) {
    throw new Error(`openssl could not make the test certificate (is openssl installed?): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
