// SPDX-License-Identifier: GPL-2.0
/*
 * Mappings of a channel: tagged with the channel's protection key, writable
 * only where the member owns the bytes, and impossible to widen (mprotect,
 * pkey_mprotect, mremap, fork, /proc/PID/mem, process_vm_*, ptrace).
 */
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"
#include "pkey_fault.h"

FIXTURE(mapped)
{
	int dev;
	int fd;
	char chan[MPKLINK_NAME_MAX];
	struct mpklink_attach a;
	char *all;	/* the whole channel, read-only */
	char *own;	/* this member's slot, read-write */
};

FIXTURE_SETUP(mapped)
{
	ASSERT_EQ(0, pkey_fault_catch_install());
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "map");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	self->fd = mpk_attach(self->dev, self->chan, &self->a);
	ASSERT_LE(0, self->fd);
	self->all = mpk_map_all(self->fd, &self->a);
	ASSERT_NE(MAP_FAILED, self->all);
	self->own = mpk_map_own(self->fd, &self->a);
	ASSERT_NE(MAP_FAILED, self->own);
}

FIXTURE_TEARDOWN(mapped)
{
	munmap(self->all, self->a.map_size);
	munmap(self->own, self->a.slot_size);
	close(self->fd);
	mpk_destroy(self->dev, self->chan);
	close(self->dev);
}

static void key_open(int pkey)
{
	pkey_set(pkey, 0);
}

static void key_close(int pkey)
{
	pkey_set(pkey, PKEY_DISABLE_ACCESS);
}

/* "ProtectionKey:" of the mapping that starts at @addr, or -1. */
static int smaps_pkey(void *addr)
{
	char line[512], start[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0, key = -1;

	if (!f)
		return -1;
	snprintf(start, sizeof(start), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') &&
		    strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, start, strlen(start));
		if (in && sscanf(line, "ProtectionKey: %d", &key) == 1)
			break;
	}
	fclose(f);
	return key;
}

TEST_F(mapped, every_mapping_is_tagged_with_the_channel_key)
{
	EXPECT_EQ(self->a.pkey, smaps_pkey(self->all));
	EXPECT_EQ(self->a.pkey, smaps_pkey(self->own));
}

TEST_F(mapped, own_segment_is_writable_and_seen_in_the_read_only_view)
{
	char *seg = self->own + MPKLINK_CTRL_SIZE;
	char *view = self->all + mpk_slot_offset(&self->a, self->a.slot) +
		     MPKLINK_CTRL_SIZE;

	key_open(self->a.pkey);
	strcpy(seg, "hello");
	EXPECT_STREQ("hello", view);
	key_close(self->a.pkey);
}

TEST_F(mapped, closed_key_makes_every_access_fault_with_pkuerr)
{
	struct pkey_fault f;

	ASSERT_EQ(1, pkey_fault_read_byte(self->all, &f));
	EXPECT_EQ(SEGV_PKUERR, f.code);
	EXPECT_EQ(self->a.pkey, f.pkey);
	ASSERT_EQ(1, pkey_fault_write_byte(self->own, 1, &f));
	EXPECT_EQ(SEGV_PKUERR, f.code);
}

TEST_F(mapped, write_through_the_read_only_view_faults)
{
	struct pkey_fault f;

	key_open(self->a.pkey);
	ASSERT_EQ(1, pkey_fault_write_byte(self->all + MPKLINK_DIR_SIZE, 1, &f));
	key_close(self->a.pkey);
	EXPECT_EQ(SIGSEGV, f.signo);
	EXPECT_EQ(SEGV_ACCERR, f.code);
}

TEST_F(mapped, mprotect_write_on_the_read_only_view_is_eacces)
{
	EXPECT_EQ(-1, mprotect(self->all, MPK_PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
}

TEST_F(mapped, writable_mapping_outside_own_slot_is_eacces)
{
	__u32 other = self->a.slot + 1;

	EXPECT_EQ(MAP_FAILED, mpk_map(self->fd, 0, MPK_PAGE,
				      PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, mpk_map(self->fd, mpk_slot_offset(&self->a, other),
				      MPK_PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	/* Own slot plus one page beyond it. */
	EXPECT_EQ(MAP_FAILED, mpk_map(self->fd,
				      mpk_slot_offset(&self->a, self->a.slot),
				      self->a.slot_size + MPK_PAGE,
				      PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
}

TEST_F(mapped, executable_mapping_is_eperm)
{
	EXPECT_EQ(MAP_FAILED, mpk_map(self->fd, 0, MPK_PAGE,
				      PROT_READ | PROT_EXEC));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, mprotect(self->all, MPK_PAGE, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
}

TEST_F(mapped, private_mapping_is_einval)
{
	EXPECT_EQ(MAP_FAILED, mmap(NULL, MPK_PAGE, PROT_READ, MAP_PRIVATE,
				   self->fd, 0));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(mapped, mapping_beyond_the_channel_is_einval)
{
	EXPECT_EQ(MAP_FAILED, mpk_map(self->fd, self->a.map_size, MPK_PAGE,
				      PROT_READ));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mpk_map(self->fd, 0, self->a.map_size + MPK_PAGE,
				      PROT_READ));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(mapped, pkey_mprotect_to_key_0_is_eperm)
{
	EXPECT_EQ(-1, pkey_mprotect(self->all, MPK_PAGE, PROT_READ, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(self->a.pkey, smaps_pkey(self->all));
}

TEST_F(mapped, pkey_mprotect_to_another_key_is_eperm)
{
	int other = pkey_alloc(0, 0);

	ASSERT_LE(0, other);
	EXPECT_EQ(-1, pkey_mprotect(self->own, MPK_PAGE,
				    PROT_READ | PROT_WRITE, other));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(self->a.pkey, smaps_pkey(self->own));
	pkey_free(other);
}

TEST_F(mapped, mprotect_that_keeps_the_key_works)
{
	EXPECT_EQ(0, mprotect(self->own, self->a.slot_size, PROT_READ));
	EXPECT_EQ(0, mprotect(self->own, self->a.slot_size,
			      PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, pkey_mprotect(self->own, self->a.slot_size, PROT_READ,
				   self->a.pkey));
	EXPECT_EQ(self->a.pkey, smaps_pkey(self->own));
}

TEST_F(mapped, mremap_cannot_grow_a_mapping)
{
	EXPECT_EQ(MAP_FAILED, mremap(self->own, self->a.slot_size,
				     self->a.slot_size + MPK_PAGE,
				     MREMAP_MAYMOVE));
}

TEST_F(mapped, mremap_move_keeps_the_data_and_the_key)
{
	char *moved;

	key_open(self->a.pkey);
	strcpy(self->own + MPKLINK_CTRL_SIZE, "moved");
	key_close(self->a.pkey);
	moved = mmap(NULL, self->a.slot_size, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, moved);
	moved = mremap(self->own, self->a.slot_size, self->a.slot_size,
		       MREMAP_MAYMOVE | MREMAP_FIXED, moved);
	ASSERT_NE(MAP_FAILED, moved);
	self->own = moved;
	EXPECT_EQ(self->a.pkey, smaps_pkey(moved));
	key_open(self->a.pkey);
	EXPECT_STREQ("moved", moved + MPKLINK_CTRL_SIZE);
	key_close(self->a.pkey);
}

TEST_F(mapped, partial_munmap_leaves_the_rest_working)
{
	struct pkey_fault f;

	ASSERT_EQ(0, munmap(self->own, MPKLINK_CTRL_SIZE));
	key_open(self->a.pkey);
	EXPECT_EQ(0, pkey_fault_write_byte(self->own + MPKLINK_CTRL_SIZE, 7, &f));
	EXPECT_EQ(1, pkey_fault_read_byte(self->own, &f));
	key_close(self->a.pkey);
	EXPECT_EQ(SEGV_MAPERR, f.code);
}

static int read_in_child(void *addr)
{
	struct pkey_fault f;

	if (pkey_fault_catch_install())
		return 99;
	if (!pkey_fault_read_byte(addr, &f))
		return 1;	/* the child could read it */
	return f.code == SEGV_MAPERR ? 0 : 2;
}

TEST_F(mapped, forked_child_does_not_inherit_the_mapping)
{
	EXPECT_EQ(0, mpk_run_child(read_in_child, self->all));
}

TEST_F(mapped, madvise_dofork_cannot_make_it_inheritable)
{
	EXPECT_EQ(-1, madvise(self->all, MPK_PAGE, MADV_DOFORK));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, mpk_run_child(read_in_child, self->all));
}

TEST_F(mapped, proc_self_mem_cannot_read_or_write_channel_memory)
{
	int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	char c = 'x';

	ASSERT_LE(0, mem);
	key_open(self->a.pkey);
	EXPECT_EQ(-1, pread(mem, &c, 1, (off_t)(uintptr_t)self->all));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, pwrite(mem, &c, 1, (off_t)(uintptr_t)self->own));
	EXPECT_EQ(EIO, errno);
	key_close(self->a.pkey);
	close(mem);
}

struct remote {
	pid_t pid;
	void *addr;
};

static int process_vm_in_child(void *arg)
{
	struct remote *r = arg;
	char c = 'x';
	struct iovec local = { &c, 1 }, remote = { r->addr, 1 };

	if (process_vm_readv(r->pid, &local, 1, &remote, 1, 0) != -1 ||
	    errno != EFAULT)
		return 1;
	if (process_vm_writev(r->pid, &local, 1, &remote, 1, 0) != -1 ||
	    errno != EFAULT)
		return 2;
	return 0;
}

TEST_F(mapped, process_vm_readv_and_writev_from_a_same_uid_process_fail)
{
	struct remote r = { getpid(), self->own };

	EXPECT_EQ(0, mpk_run_child(process_vm_in_child, &r));
}

TEST_F(mapped, ptrace_peek_and_poke_of_channel_memory_fail)
{
	int pipefd[2], status;
	void *addr;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	if (pid == 0) {
		struct mpklink_attach a;
		int fd = mpk_attach_fresh(self->chan, &a);
		void *all = fd < 0 ? MAP_FAILED : mpk_map_all(fd, &a);

		if (write(pipefd[1], &all, sizeof(all)) != sizeof(all) ||
		    ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(1);
		raise(SIGSTOP);
		_exit(0);
	}
	ASSERT_EQ(sizeof(addr), read(pipefd[0], &addr, sizeof(addr)));
	ASSERT_NE(MAP_FAILED, addr);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));
	errno = 0;
	EXPECT_EQ(-1, ptrace(PTRACE_PEEKDATA, pid, addr, NULL));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, ptrace(PTRACE_POKEDATA, pid, addr, (void *)1L));
	EXPECT_EQ(EIO, errno);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* Run as a member granted @rights (by uid 1000) next to the fixture's. */
struct peer {
	const char *chan;
	__u32 writer_slot;	/* the fixture member's slot */
};

static int read_only_member(void *arg)
{
	struct peer *p = arg;
	struct mpklink_attach a;
	struct pkey_fault f;
	char *all, *ctrl, *writer;
	int fd, mem;

	if (pkey_fault_catch_install())
		return 99;
	fd = mpk_attach_fresh(p->chan, &a);
	if (fd < 0 || a.rights != MPKLINK_RIGHT_READ)
		return 1;
	ctrl = mpk_map(fd, mpk_slot_offset(&a, a.slot), MPKLINK_CTRL_SIZE,
		       PROT_READ | PROT_WRITE);
	if (ctrl == MAP_FAILED)
		return 2;	/* its own control page is writable */
	if (mpk_map(fd, mpk_slot_offset(&a, a.slot), a.slot_size,
		    PROT_READ | PROT_WRITE) != MAP_FAILED || errno != EACCES)
		return 3;	/* but it has no segment to write */
	if (mpk_map(fd, mpk_slot_offset(&a, p->writer_slot), a.slot_size,
		    PROT_READ | PROT_WRITE) != MAP_FAILED || errno != EACCES)
		return 4;
	all = mpk_map_all(fd, &a);
	if (all == MAP_FAILED)
		return 5;
	writer = all + mpk_slot_offset(&a, p->writer_slot) + MPKLINK_CTRL_SIZE;
	pkey_set(a.pkey, 0);
	if (!pkey_fault_write_byte(writer, 1, &f) || f.code != SEGV_ACCERR)
		return 6;
	if (mprotect(all, a.map_size, PROT_READ | PROT_WRITE) != -1 ||
	    errno != EACCES)
		return 7;
	/* A member's /proc files are root's (it is non-dumpable): EACCES. */
	mem = open("/proc/self/mem", O_RDWR);
	if (mem < 0 && errno != EACCES)
		return 8;
	if (mem >= 0 && pwrite(mem, "x", 1, (off_t)(uintptr_t)writer) != -1)
		return 9;
	return 0;
}

TEST_F(mapped, read_only_member_cannot_write_any_segment)
{
	struct peer p = { self->chan, self->a.slot };

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(MPK_TEST_UID),
			       MPKLINK_RIGHT_READ));
	EXPECT_EQ(0, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 0,
				read_only_member, &p));
}

static int second_writer(void *arg)
{
	struct peer *p = arg;
	struct mpklink_attach a;
	struct pkey_fault f;
	char *all, *own;
	int fd;

	if (pkey_fault_catch_install())
		return 99;
	fd = mpk_attach_fresh(p->chan, &a);
	if (fd < 0 || !(a.rights & MPKLINK_RIGHT_WRITE) || a.slot == p->writer_slot)
		return 1;
	own = mpk_map_own(fd, &a);
	if (own == MAP_FAILED)
		return 2;
	if (mpk_map(fd, mpk_slot_offset(&a, p->writer_slot), a.slot_size,
		    PROT_READ | PROT_WRITE) != MAP_FAILED || errno != EACCES)
		return 3;
	all = mpk_map_all(fd, &a);
	if (all == MAP_FAILED)
		return 4;
	pkey_set(a.pkey, 0);
	own[MPKLINK_CTRL_SIZE] = 'w';	/* its own segment: fine */
	if (!pkey_fault_write_byte(all + mpk_slot_offset(&a, p->writer_slot) +
				   MPKLINK_CTRL_SIZE, 1, &f) ||
	    f.code != SEGV_ACCERR)
		return 5;
	return 0;
}

TEST_F(mapped, writer_cannot_write_another_writers_segment)
{
	struct peer p = { self->chan, self->a.slot };

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(MPK_TEST_UID),
			       MPKLINK_RIGHTS_ALL));
	EXPECT_EQ(0, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 0, second_writer, &p));
}

static int write_only_member(void *arg)
{
	struct peer *p = arg;
	struct mpklink_attach a;
	struct pkey_fault f;
	char *all;
	int fd;

	if (pkey_fault_catch_install())
		return 99;
	fd = mpk_attach_fresh(p->chan, &a);
	if (fd < 0 || a.rights != MPKLINK_RIGHT_WRITE)
		return 1;
	all = mpk_map_all(fd, &a);
	if (all == MAP_FAILED)
		return 2;
	pkey_set(a.pkey, 0);
	/* Other members' control pages (their progress) are readable... */
	if (pkey_fault_read_byte(all + mpk_slot_offset(&a, p->writer_slot), &f))
		return 3;
	/* ...their segments are not. */
	if (!pkey_fault_read_byte(all + mpk_slot_offset(&a, p->writer_slot) +
				  MPKLINK_CTRL_SIZE, &f) || f.signo != SIGBUS)
		return 4;
	return 0;
}

TEST_F(mapped, member_without_read_right_cannot_read_other_segments)
{
	struct peer p = { self->chan, self->a.slot };

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(MPK_TEST_UID),
			       MPKLINK_RIGHT_WRITE));
	EXPECT_EQ(0, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 0,
				write_only_member, &p));
}

static int read_peer_data(void *arg)
{
	struct peer *p = arg;
	struct mpklink_attach a;
	char *all;
	int fd;

	fd = mpk_attach_fresh(p->chan, &a);
	if (fd < 0)
		return 1;
	all = mpk_map_all(fd, &a);
	if (all == MAP_FAILED)
		return 2;
	pkey_set(a.pkey, 0);
	return strcmp(all + mpk_slot_offset(&a, p->writer_slot) +
		      MPKLINK_CTRL_SIZE, "from the writer") ? 3 : 0;
}

TEST_F(mapped, data_written_by_one_process_is_read_by_another)
{
	struct peer p = { self->chan, self->a.slot };

	key_open(self->a.pkey);
	strcpy(self->own + MPKLINK_CTRL_SIZE, "from the writer");
	key_close(self->a.pkey);
	EXPECT_EQ(0, mpk_run_child(read_peer_data, &p));
}

TEST_F(mapped, free_slots_read_as_zeros)
{
	const char *free_slot = self->all +
				mpk_slot_offset(&self->a, self->a.max_members - 1);
	size_t i;
	int nonzero = 0;

	key_open(self->a.pkey);
	for (i = 0; i < self->a.slot_size; i += 512)
		nonzero |= free_slot[i];
	key_close(self->a.pkey);
	EXPECT_EQ(0, nonzero);
}

TEST_F(mapped, directory_page_describes_the_channel_and_its_members)
{
	const struct mpklink_dir *dir = (const void *)self->all;
	struct mpklink_dir copy;

	key_open(self->a.pkey);
	copy = *dir;
	key_close(self->a.pkey);
	EXPECT_EQ(MPKLINK_DIR_MAGIC, copy.magic);
	EXPECT_EQ(MPKLINK_API_VERSION, copy.version);
	EXPECT_EQ(self->a.max_members, copy.max_members);
	EXPECT_EQ(MPKLINK_CTRL_SIZE, copy.ctrl_size);
	EXPECT_EQ(self->a.segment_size, copy.segment_size);
	EXPECT_EQ(self->a.slot_size, copy.slot_size);
	EXPECT_EQ(0, copy.seq % 2);
	EXPECT_EQ(self->a.member_id, copy.slots[self->a.slot].member_id);
	EXPECT_EQ(MPKLINK_RIGHTS_ALL, copy.slots[self->a.slot].rights);
	EXPECT_EQ(MPKLINK_DIR_SLOT_WRITER, copy.slots[self->a.slot].flags);
	EXPECT_EQ(0, copy.slots[self->a.slot + 1].member_id);
}

TEST_HARNESS_MAIN
