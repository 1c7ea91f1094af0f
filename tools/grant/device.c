// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/mpklink: the administrative ioctls, and reading the kernel's whole
 * state (channels, their grants and members) through the listing ioctls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "grant.h"

int exit_code_for(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return EXIT_OK;
	case EPERM:
	case EACCES:
		return EXIT_DENIED;
	case ENOENT:
		return EXIT_NOT_FOUND;
	case EEXIST:
	case EBUSY:
		return EXIT_CONFLICT;
	case ENODEV:
	case ENXIO:
		return EXIT_NO_MODULE;
	case EINVAL:
		return EXIT_USAGE;
	default:
		return EXIT_FAILED;
	}
}

/* $MPKLINK_DEVICE exists for tests; see mpklink-grant(8). */
const char *device_path(void)
{
	const char *path = getenv("MPKLINK_DEVICE");

	return path && *path ? path : MPKLINK_DEVICE_PATH;
}

int device_open(void)
{
	int fd = open(device_path(), O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	if (ioctl(fd, MPKLINK_IOC_API_VERSION) != MPKLINK_API_VERSION) {
		close(fd);
		return -EPROTO;
	}
	return fd;
}

uint64_t module_param(const char *name, uint64_t fallback)
{
	char path[128], text[32];
	unsigned long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/mpklink/parameters/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fallback;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return fallback;
	text[n] = 0;
	if (sscanf(text, "%llu", &v) != 1)
		return fallback;
	return v;
}

/*
 * Runs a listing ioctl until its answer fits: the count can grow between
 * the call that sizes the buffer and the one that fills it.
 */
static int list_all(int dev, unsigned long cmd, const char *name,
		    size_t entry_size, void **entries, unsigned int *count)
{
	struct mpklink_listing l;
	unsigned int room = 16;
	void *buf = NULL;

	for (;;) {
		void *bigger = realloc(buf, room * entry_size);

		if (!bigger) {
			free(buf);
			return -ENOMEM;
		}
		buf = bigger;
		memset(&l, 0, sizeof(l));
		l.size = sizeof(l);
		l.entry_size = (uint32_t)entry_size;
		l.count = room;
		l.entries = (uint64_t)(uintptr_t)buf;
		if (name)
			strcpy(l.name, name);
		if (ioctl(dev, cmd, &l)) {
			int err = -errno;

			free(buf);
			return err;
		}
		if (l.count <= room)
			break;
		room = l.count + 16;
	}
	*entries = buf;
	*count = l.count;
	return 0;
}

static int read_channel(int dev, struct kchannel *c)
{
	void *p;
	int err;

	err = list_all(dev, MPKLINK_IOC_GRANTS, c->info.name,
		       sizeof(struct mpklink_grant), &p, &c->nr_grants);
	if (err)
		return err;
	c->grants = p;
	err = list_all(dev, MPKLINK_IOC_MEMBERS, c->info.name,
		       sizeof(struct mpklink_member_info), &p, &c->nr_members);
	if (err)
		return err;
	c->members = p;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct kchannel *)a)->info.name,
		      ((const struct kchannel *)b)->info.name);
}

int device_read_state(int dev, const char *only, struct kstate *st)
{
	struct mpklink_channel_info *infos;
	unsigned int i, count, n = 0;
	void *p;
	int err;

	memset(st, 0, sizeof(*st));
	err = list_all(dev, MPKLINK_IOC_LIST, NULL,
		       sizeof(struct mpklink_channel_info), &p, &count);
	if (err)
		return err;
	infos = p;
	st->channels = calloc(count ? count : 1, sizeof(*st->channels));
	if (!st->channels) {
		free(infos);
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		if (only && strcmp(infos[i].name, only))
			continue;
		st->channels[n].info = infos[i];
		err = read_channel(dev, &st->channels[n]);
		n++;
		/* Destroyed since the list: as if it had not been listed. */
		if (err == -ENOENT) {
			n--;
			free(st->channels[n].grants);
			memset(&st->channels[n], 0, sizeof(st->channels[n]));
			err = 0;
		}
		if (err)
			break;
	}
	st->nr_channels = n;
	free(infos);
	if (err) {
		kstate_free(st);
		return err;
	}
	qsort(st->channels, n, sizeof(*st->channels), by_name);
	return only && !n ? -ENOENT : 0;
}

void kstate_free(struct kstate *st)
{
	unsigned int i;

	for (i = 0; i < st->nr_channels; i++) {
		free(st->channels[i].grants);
		free(st->channels[i].members);
	}
	free(st->channels);
	memset(st, 0, sizeof(*st));
}

struct kchannel *kstate_find(struct kstate *st, const char *name)
{
	unsigned int i;

	for (i = 0; i < st->nr_channels; i++)
		if (!strcmp(st->channels[i].info.name, name))
			return &st->channels[i];
	return NULL;
}

/*
 * Tests of the partial-apply report set MPKLINK_GRANT_TEST_FAIL_AT=N to
 * make the Nth change fail with EIO (mpklink-grant(8), ENVIRONMENT): no
 * policy a user could write makes the kernel refuse halfway on demand.
 */
static int injected_failure(void)
{
	static long changes;
	const char *at = getenv("MPKLINK_GRANT_TEST_FAIL_AT");

	return at && ++changes == atol(at) ? -EIO : 0;
}

static int do_ioctl(int dev, unsigned long cmd, void *arg)
{
	int err = injected_failure();

	if (err)
		return err;
	return ioctl(dev, cmd, arg) ? -errno : 0;
}

int device_create(int dev, const char *name, uint64_t segment_size,
		  uint32_t max_members, bool is_signed)
{
	struct mpklink_create c = {
		.size = sizeof(c),
		.flags = is_signed ? MPKLINK_CREATE_SIGNED : 0,
		.segment_size = segment_size,
		.max_members = max_members,
	};

	strcpy(c.name, name);
	return do_ioctl(dev, MPKLINK_IOC_CREATE, &c);
}

int device_destroy(int dev, const char *name)
{
	struct mpklink_destroy d = { .size = sizeof(d) };

	strcpy(d.name, name);
	return do_ioctl(dev, MPKLINK_IOC_DESTROY, &d);
}

int device_grant(int dev, const char *name,
		 const struct mpklink_principal *p, uint32_t rights,
		 const uint8_t *pubkey)
{
	struct mpklink_grant g = { .size = sizeof(g), .rights = rights };

	strcpy(g.name, name);
	g.principal = *p;
	if (pubkey) {
		g.flags = MPKLINK_GRANT_PUBKEY;
		memcpy(g.pubkey, pubkey, MPKLINK_PUBKEY_SIZE);
	}
	return do_ioctl(dev, MPKLINK_IOC_GRANT, &g);
}

int device_revoke(int dev, const char *name,
		  const struct mpklink_principal *p)
{
	struct mpklink_grant g = { .size = sizeof(g) };

	strcpy(g.name, name);
	g.principal = *p;
	return do_ioctl(dev, MPKLINK_IOC_REVOKE, &g);
}
