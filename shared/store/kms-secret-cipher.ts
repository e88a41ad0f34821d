import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { SecretCipher } from './project-secrets';

// Apart from project-secrets.ts so that functions which never encrypt or decrypt do not bundle the KMS client.
/** The stack's KMS key as a SecretCipher: ciphertexts are stored base64. */
export const kmsSecretCipher = (kms: KMSClient, keyId: string): SecretCipher => ({
  async encrypt(plaintext, context) {
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext, 'utf8'), EncryptionContext: context }));
    if (!CiphertextBlob) throw new Error('KMS returned no ciphertext');
    return Buffer.from(CiphertextBlob).toString('base64');
  },
  async decrypt(ciphertext, context) {
    // Naming the key refuses a ciphertext made under any other key.
    const { Plaintext } = await kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: Buffer.from(ciphertext, 'base64'), EncryptionContext: context }));
    if (!Plaintext) throw new Error('KMS returned no plaintext');
    return Buffer.from(Plaintext).toString('utf8');
  },
});
