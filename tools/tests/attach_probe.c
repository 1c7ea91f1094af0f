// SPDX-License-Identifier: GPL-2.0
/*
 * attach_probe: what the end-to-end tests of mpklink-grant run as a
 * service would, under whatever uid they choose.
 *
 *   attach_probe NAME          attach; print "attached rights=R" and exit
 *                              0, or print the error and exit 1
 *   attach_probe --hold NAME   attach and map, print "ready", then wait
 *                              (up to 60 s) for revocation; print
 *                              "revoked" and exit 0, or exit 1
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mpklink.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *rights(unsigned int r)
{
	return r == MPKLINK_RIGHTS_ALL ? "rw" : r == MPKLINK_RIGHT_READ ? "r" :
	       r == MPKLINK_RIGHT_WRITE ? "w" : "-";
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct mpklink_attach a = { .size = sizeof(a) };
	int hold = argc == 3 && !strcmp(argv[1], "--hold");
	const char *name = argv[argc - 1];
	struct pollfd pfd;
	long long start;
	int dev, fd;

	if (argc != 2 + hold || strlen(name) >= MPKLINK_NAME_MAX) {
		fprintf(stderr, "usage: attach_probe [--hold] NAME\n");
		return 2;
	}
	dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		printf("open %s: %s\n", MPKLINK_DEVICE_PATH, strerror(errno));
		return 1;
	}
	strcpy(a.name, name);
	fd = ioctl(dev, MPKLINK_IOC_ATTACH, &a);
	if (fd < 0) {
		printf("attach %s: %s\n", name, strerror(errno));
		return 1;
	}
	printf("attached rights=%s\n", rights(a.rights));
	if (!hold)
		return 0;
	if (mmap(NULL, a.map_size, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) {
		printf("mmap: %s\n", strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	start = now_ms();
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (now_ms() - start < 60000) {
		struct mpklink_event ev;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if (pfd.revents & (POLLERR | POLLHUP)) {
			printf("revoked\n");
			return 0;
		}
		/* Other members' events: consume them. */
		if (read(fd, &ev, sizeof(ev)) < 0 && errno != EAGAIN)
			break;
	}
	printf("not revoked\n");
	return 1;
}
