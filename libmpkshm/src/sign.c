// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Signed channels: every message carries an Ed25519 signature over the
 * channel's name, the sender's member id, the message's sequence number,
 * its kind and status, and its payload.  The sender's public key comes from the kernel's record of
 * the channel's members, which binds it to the principal the kernel
 * attested (mpklink-grant enroll).  A receiver rejects a message whose
 * signature does not verify (forged or altered: EKEYREJECTED) and one whose
 * sequence number is not newer than the last it accepted from that sender
 * in that class, messages or responses (replayed: EPROTO).
 *
 * Secret keys are read from a file of mode 0600 or stricter, holding the
 * 64-byte libsodium secret key as 128 hexadecimal characters, into
 * sodium_malloc()ed memory (guarded, never swapped, wiped when freed).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define HEX_LEN (2 * crypto_sign_SECRETKEYBYTES)

int mpkshm_sign_load_key(struct mpkshm_channel *ch, const char *path)
{
	char hex[HEX_LEN + 2];
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	if (!path)
		return -ENOKEY;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || (st.st_mode & 077)) {
		close(fd);
		return -EPERM;	/* a secret key others can read is not one */
	}
	n = read(fd, hex, sizeof(hex));
	close(fd);
	ch->secret_key = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!ch->secret_key) {
		sodium_memzero(hex, sizeof(hex));
		return -ENOMEM;
	}
	if (n < HEX_LEN || (n > HEX_LEN && hex[HEX_LEN] != '\n') ||
	    sodium_hex2bin(ch->secret_key, crypto_sign_SECRETKEYBYTES, hex,
			   HEX_LEN, NULL, NULL, NULL))
		err = -EINVAL;
	sodium_memzero(hex, sizeof(hex));
	if (err) {
		sodium_free(ch->secret_key);
		ch->secret_key = NULL;
		return err;
	}
	sodium_mprotect_readonly(ch->secret_key);
	return 0;
}

void mpkshm_sign_free_key(struct mpkshm_channel *ch)
{
	if (ch->secret_key)
		sodium_free(ch->secret_key);
	ch->secret_key = NULL;
}

void mpkshm_sign_state_begin(crypto_sign_state *state, const char *channel,
			     const struct mpkshm_sign_what *what)
{
	unsigned char name[MPKLINK_NAME_MAX] = { 0 };
	uint64_t kind = what->kind;
	int64_t status = what->status;

	strncpy((char *)name, channel, sizeof(name) - 1);
	crypto_sign_init(state);
	crypto_sign_update(state, name, sizeof(name));
	crypto_sign_update(state, (const unsigned char *)&what->sender,
			   sizeof(what->sender));
	crypto_sign_update(state, (const unsigned char *)&what->seq,
			   sizeof(what->seq));
	crypto_sign_update(state, (const unsigned char *)&kind, sizeof(kind));
	crypto_sign_update(state, (const unsigned char *)&status,
			   sizeof(status));
}

void mpkshm_sign_update(crypto_sign_state *state, const void *data, size_t len)
{
	crypto_sign_update(state, data, len);
}

void mpkshm_sign_end(struct mpkshm_channel *ch, crypto_sign_state *state,
		     uint8_t *sig)
{
	crypto_sign_final_create(state, sig, NULL, ch->secret_key);
}

/*
 * The key on record for @sender, fetched once per member: both of an
 * endpoint's readers (messages, responses) may ask at once.
 */
static int sender_key(struct mpkshm_channel *ch, unsigned int slot,
		      uint64_t sender, uint8_t *key)
{
	struct mpkshm_peer *p = &ch->peers[slot];
	int err = 0;

	pthread_mutex_lock(&ch->peer_lock);
	if (p->pubkey_id != sender) {
		err = ch->ops->peer_pubkey(ch, slot, sender, p->pubkey);
		p->pubkey_id = err ? 0 : sender;
	}
	if (!err)
		memcpy(key, p->pubkey, MPKLINK_PUBKEY_SIZE);
	pthread_mutex_unlock(&ch->peer_lock);
	return err;
}

int mpkshm_verify_end(struct mpkshm_channel *ch, unsigned int slot,
		      crypto_sign_state *state, uint64_t sender, uint64_t seq,
		      uint64_t *last_seq, const uint8_t *sig)
{
	unsigned char copy[MPKSHM_SIG_BYTES];
	uint8_t key[MPKLINK_PUBKEY_SIZE];

	if (sender_key(ch, slot, sender, key))
		return -EKEYREJECTED;	/* no key on record: unverifiable */
	/* The writer could change its bytes while we verify them. */
	memcpy(copy, sig, sizeof(copy));
	if (crypto_sign_final_verify(state, copy, key))
		return -EKEYREJECTED;
	if (seq <= *last_seq)
		return -EPROTO;
	*last_seq = seq;
	return 0;
}
