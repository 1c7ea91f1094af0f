// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Endpoints: opening and closing, their options and locks, and what they
 * report about themselves.
 *
 * Every writer publishes into a ring in its own segment; every reader keeps
 * its progress in each writer's ring (cursors) in its own control page.
 * Nothing is ever written to memory another member owns, so there are no
 * cross-process locks, and a member can only damage what it owns.  The
 * channel's key is open only inside library calls and the zero-copy
 * windows (pku.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define DEFAULT_SPIN_US		50
#define DEFAULT_CLOSE_TIMEOUT	1000
#define DEFAULT_OPEN_TIMEOUT	5000
#define DEFAULT_SEGMENT		(1u << 20)
#define DEFAULT_MEMBERS		16
#define DEFAULT_MAX_REQUEST	(64u << 20)
#define DEFAULT_REPLY_TIMEOUT	1000

uint64_t mpkshm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Milliseconds for poll()/epoll_wait() until @deadline: -1 for none. */
int mpkshm_ms_until(uint64_t deadline)
{
	uint64_t now, left;

	if (deadline == UINT64_MAX)
		return -1;
	now = mpkshm_now_ns();
	left = now >= deadline ? 0 : (deadline - now + 999999) / 1000000;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

uint64_t mpkshm_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return mpkshm_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

static void side_lock_taken(struct mpkshm_side_lock *l)
{
	atomic_store_explicit(&l->owner, pthread_self(), memory_order_relaxed);
	/* Pairs with held_by_us(): who sees held set sees its owner. */
	atomic_store_explicit(&l->held, true, memory_order_release);
}

/*
 * Only a thread that set held and owner itself, and has not cleared held
 * since, can see both say it holds the lock.
 */
static bool held_by_us(struct mpkshm_side_lock *l)
{
	return atomic_load_explicit(&l->held, memory_order_acquire) &&
	       pthread_equal(atomic_load_explicit(&l->owner,
						  memory_order_relaxed),
			     pthread_self());
}

void mpkshm_lock(struct mpkshm_channel *ch, struct mpkshm_side_lock *l)
{
	if (ch->flags & MPKSHM_OPEN_SINGLE_THREAD)
		return;
	pthread_mutex_lock(&l->mutex);
	side_lock_taken(l);
}

int mpkshm_lock_by(struct mpkshm_channel *ch, struct mpkshm_side_lock *l,
		   uint64_t deadline)
{
	struct timespec ts;
	int err;

	if (ch->flags & MPKSHM_OPEN_SINGLE_THREAD)
		return 0;
	if (held_by_us(l))
		return -EBUSY;
	if (deadline == UINT64_MAX) {
		err = pthread_mutex_lock(&l->mutex);
	} else {
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		err = pthread_mutex_clocklock(&l->mutex, CLOCK_MONOTONIC, &ts);
	}
	if (err)
		return -err;
	side_lock_taken(l);
	return 0;
}

int mpkshm_trylock(struct mpkshm_channel *ch, struct mpkshm_side_lock *l)
{
	if (ch->flags & MPKSHM_OPEN_SINGLE_THREAD)
		return 0;
	if (pthread_mutex_trylock(&l->mutex))
		return -EBUSY;
	side_lock_taken(l);
	return 0;
}

void mpkshm_unlock(struct mpkshm_channel *ch, struct mpkshm_side_lock *l)
{
	if (ch->flags & MPKSHM_OPEN_SINGLE_THREAD)
		return;
	atomic_store_explicit(&l->held, false, memory_order_relaxed);
	pthread_mutex_unlock(&l->mutex);
}

int mpkshm_enter(struct mpkshm_channel *ch, struct mpkshm_side_lock *l,
		 const bool *window, uint64_t deadline)
{
	int err = mpkshm_lock_by(ch, l, deadline);

	if (err)
		return err;
	if (*window) {
		mpkshm_unlock(ch, l);
		return -EBUSY;
	}
	return 0;
}

/*
 * Forks, counted in the child, so that every call can tell an inherited
 * endpoint without a getpid() system call (glibc no longer caches it).
 */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void count_fork_in_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, count_fork_in_child);
}

int mpkshm_usable(struct mpkshm_channel *ch)
{
	if (!ch || ch->fork_generation !=
	    atomic_load_explicit(&fork_generation, memory_order_relaxed))
		return -EBADF;
	if (atomic_load_explicit(&ch->revoked, memory_order_relaxed))
		return -EKEYREVOKED;
	return 0;
}

int mpkshm_check_writer(struct mpkshm_channel *ch)
{
	int err = mpkshm_usable(ch);

	if (err)
		return err;
	return ch->own_ring ? 0 : -EPERM;
}

int mpkshm_check_reader(struct mpkshm_channel *ch)
{
	int err = mpkshm_usable(ch);

	if (err)
		return err;
	if (!(ch->rights & MPKSHM_RIGHT_READ) ||
	    ch->flags & MPKSHM_OPEN_SEND_ONLY)
		return -EPERM;
	return 0;
}

MPKSHM_EXPORT void mpkshm_options_init(struct mpkshm_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->backend = MPKSHM_BACKEND_KERNEL;
	opts->spin_us = DEFAULT_SPIN_US;
	opts->segment_size = DEFAULT_SEGMENT;
	opts->max_members = DEFAULT_MEMBERS;
	opts->close_timeout_ms = DEFAULT_CLOSE_TIMEOUT;
	opts->open_timeout_ms = DEFAULT_OPEN_TIMEOUT;
	opts->max_request_size = DEFAULT_MAX_REQUEST;
	opts->reply_timeout_ms = DEFAULT_REPLY_TIMEOUT;
	opts->max_response_size = DEFAULT_MAX_REQUEST;
}

static bool name_valid(const char *name)
{
	size_t len = name ? strnlen(name, MPKLINK_NAME_MAX) : 0;
	size_t i;

	if (len == 0 || len == MPKLINK_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void describe(struct mpkshm_channel *ch)
{
	const char *keys = ch->pkey >= 0 ?
		"pages tagged with a protection key that is closed outside library calls" :
		"no protection keys on this CPU: channel memory is open to the whole process";

	switch (ch->kind) {
	case MPKSHM_BACKEND_KERNEL:
		snprintf(ch->description, sizeof(ch->description),
			 "mpklink kernel channel: attested members, writer-owned segments, revocation; %s",
			 keys);
		break;
	case MPKSHM_BACKEND_MEMFD:
		snprintf(ch->description, sizeof(ch->description),
			 "memfd channel: UNPROTECTED (no attestation or revocation; processes of the same user can join it); %s",
			 keys);
		break;
	default:
		snprintf(ch->description, sizeof(ch->description),
			 "thread channel (one process); %s", keys);
		break;
	}
}

static void init_locks(struct mpkshm_channel *ch)
{
	pthread_condattr_t cattr;

	pthread_mutex_init(&ch->send_lock.mutex, NULL);
	pthread_mutex_init(&ch->recv_lock.mutex, NULL);
	pthread_mutex_init(&ch->dir_lock, NULL);
	pthread_mutex_init(&ch->marks_lock, NULL);
	pthread_mutex_init(&ch->call_lock, NULL);
	pthread_mutex_init(&ch->sleep_lock, NULL);
	pthread_mutex_init(&ch->peer_lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&ch->call_cond, &cattr);
	pthread_cond_init(&ch->sleep_cond, &cattr);
	pthread_condattr_destroy(&cattr);
}

static void destroy(struct mpkshm_channel *ch)
{
	pthread_mutex_destroy(&ch->send_lock.mutex);
	pthread_mutex_destroy(&ch->recv_lock.mutex);
	pthread_mutex_destroy(&ch->dir_lock);
	pthread_mutex_destroy(&ch->marks_lock);
	pthread_mutex_destroy(&ch->call_lock);
	pthread_mutex_destroy(&ch->sleep_lock);
	pthread_mutex_destroy(&ch->peer_lock);
	pthread_cond_destroy(&ch->call_cond);
	pthread_cond_destroy(&ch->sleep_cond);
	free(ch);
}

static const struct mpkshm_backend_ops *backend_ops(enum mpkshm_backend b)
{
	switch (b) {
	case MPKSHM_BACKEND_KERNEL:
		return &mpkshm_kernel_ops;
	case MPKSHM_BACKEND_MEMFD:
		return &mpkshm_memfd_ops;
	case MPKSHM_BACKEND_THREAD:
		return &mpkshm_thread_ops;
	default:
		return NULL;
	}
}

/*
 * What a member receives ends up in its heap (mpkshm_recv() buffers,
 * reassembled messages, its secret key): a process of the same user must
 * not be able to read it there.  The module does this for kernel members.
 */
static int keep_to_ourselves(const struct mpkshm_options *o)
{
	if (o->backend == MPKSHM_BACKEND_KERNEL ||
	    o->flags & MPKSHM_OPEN_KEEP_DUMPABLE)
		return 0;
	return prctl(PR_SET_DUMPABLE, 0) ? -errno : 0;
}

/* Puts the endpoint's own memory in order and looks at the directory. */
static int start(struct mpkshm_channel *ch, const char *role)
{
	unsigned int i;
	int err;

	mpkshm_window_open(ch->pkey, true);
	if (ch->own_ring) {
		ch->own_ring->magic = MPKSHM_RING_MAGIC;
		ch->own_ring->member_id = ch->member_id;
		ch->head = atomic_load(&ch->own_ring->head);
	}
	for (i = 0; i < MPKSHM_MAX_MEMBERS; i++) {
		unsigned int k;

		for (k = 0; k < MPKSHM_CLASSES; k++)
			atomic_store(&ch->own_ctrl->cursors[i].writer_id[k], 0);
		atomic_store(&ch->own_ctrl->marks[i].reader_id, 0);
	}
	atomic_store(&ch->own_ctrl->send_only,
		     !!(ch->flags & MPKSHM_OPEN_SEND_ONLY));
	/* The kernel and thread backends show every slot from the start. */
	if (!ch->ops->peer_views)
		atomic_store(&ch->own_ctrl->mapped, ~0ull);
	atomic_store(&ch->dir_seq, UINT64_MAX);
	err = mpkshm_refresh(ch);
	if (!err)
		mpkshm_announce_role(ch, role);
	mpkshm_window_close(ch->pkey, true);
	return err;
}

MPKSHM_EXPORT int mpkshm_open(const char *name,
			      const struct mpkshm_options *user_opts,
			      struct mpkshm_channel **out)
{
	struct mpkshm_options opts;
	struct mpkshm_channel *ch;
	int err;

	if (!out || !name_valid(name))
		return -EINVAL;
	mpkshm_options_init(&opts);
	if (user_opts) {
		if (user_opts->size < sizeof(size_t) ||
		    user_opts->size > sizeof(opts))
			return -EINVAL;
		memcpy(&opts, user_opts, user_opts->size);
		opts.size = sizeof(opts);
	}
	if (!opts.backend)
		opts.backend = MPKSHM_BACKEND_KERNEL;
	if (opts.flags & ~(MPKSHM_OPEN_SINGLE_THREAD | MPKSHM_OPEN_CREATE |
			   MPKSHM_OPEN_SEND_ONLY | MPKSHM_OPEN_KEEP_DUMPABLE) ||
	    !backend_ops(opts.backend) || !opts.max_request_size ||
	    !opts.max_response_size ||
	    (opts.role && !mpkshm_role_valid(opts.role)))
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOSYS;
	err = keep_to_ourselves(&opts);
	if (err)
		return err;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	strcpy(ch->name, name);
	ch->pid = getpid();
	pthread_once(&atfork_once, register_atfork);
	ch->fork_generation = atomic_load(&fork_generation);
	ch->flags = opts.flags;
	ch->spin_us = opts.spin_us;
	ch->close_timeout_ms = opts.close_timeout_ms;
	ch->max_request = opts.max_request_size;
	ch->reply_timeout_ms = opts.reply_timeout_ms;
	ch->max_response = opts.max_response_size;
	ch->fd = -1;
	ch->sleep_fd = -1;
	ch->pkey = -1;
	init_locks(ch);
	ch->ops = backend_ops(opts.backend);
	ch->kind = opts.backend;
	err = ch->ops->open(ch, name, &opts);
	if (err) {
		destroy(ch);
		return err;
	}
	ch->capacity = mpkshm_ring_capacity(ch->segment_size);
	if (ch->pkey >= 0)
		ch->protection |= MPKSHM_PROT_PKU;
	if (ch->signed_channel) {
		err = mpkshm_sign_load_key(ch, opts.secret_key_path);
		if (err) {
			ch->ops->close(ch);
			destroy(ch);
			return err;
		}
		ch->protection |= MPKSHM_PROT_SIGNED;
	}
	describe(ch);
	err = start(ch, opts.role);
	if (err) {
		mpkshm_close(ch);
		return err;
	}
	*out = ch;
	return 0;
}

MPKSHM_EXPORT int mpkshm_close(struct mpkshm_channel *ch)
{
	bool ours;
	int err = 0;

	if (!ch)
		return -EINVAL;
	/* In a fork child the mappings and fds are not ours to touch. */
	ours = ch->pid == getpid() &&
	       ch->fork_generation == atomic_load(&fork_generation);
	/* Windows this thread left open are closed with it. */
	if (ours && ch->reserved &&
	    pthread_equal(ch->res_owner, pthread_self()))
		mpkshm_abandon(ch);
	if (ours && ch->peeking &&
	    pthread_equal(ch->peek_owner, pthread_self())) {
		ch->peeking = false;
		mpkshm_window_close(ch->pkey, true);
		mpkshm_unlock(ch, &ch->recv_lock);
	}
	if (ours && !atomic_load(&ch->revoked) && ch->own_ring &&
	    ch->close_timeout_ms) {
		mpkshm_lock(ch, &ch->send_lock);
		mpkshm_window_open(ch->pkey, true);
		err = mpkshm_wait_until(ch, mpkshm_drained,
					NULL, MPKSHM_WAIT_SPACE,
					mpkshm_deadline(ch->close_timeout_ms),
					0);
		mpkshm_window_close(ch->pkey, true);
		mpkshm_unlock(ch, &ch->send_lock);
		err = err < 0 ? err : 0;
	}
	if (ours)
		ch->ops->close(ch);
	mpkshm_partials_free(ch);
	mpkshm_calls_free(ch);
	mpkshm_sign_free_key(ch);
	destroy(ch);
	return err;
}

MPKSHM_EXPORT int mpkshm_info(struct mpkshm_channel *ch,
			      struct mpkshm_info *info)
{
	int err = mpkshm_usable(ch);

	if (err)
		return err;
	if (!info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->backend = ch->kind;
	info->rights = ch->rights;
	info->protection = ch->protection;
	info->pkey = ch->pkey;
	info->slot = ch->slot;
	info->member_id = ch->member_id;
	info->max_members = ch->max_members;
	info->segment_size = ch->segment_size;
	info->max_message = mpkshm_max_payload(ch);
	return 0;
}

MPKSHM_EXPORT const char *mpkshm_protection_string(struct mpkshm_channel *ch)
{
	return ch ? ch->description : "no channel";
}

MPKSHM_EXPORT int mpkshm_members(struct mpkshm_channel *ch,
				 struct mpkshm_member *out, unsigned int room)
{
	int err = mpkshm_usable(ch);

	if (err)
		return err;
	if (room && out)
		memset(out, 0, room * sizeof(*out));
	err = ch->ops->members(ch, out, out ? room : 0);
	if (err > 0 && out)
		mpkshm_fill_roles(ch, out, (unsigned int)err < room ?
				  (unsigned int)err : room);
	return err;
}

MPKSHM_EXPORT int mpkshm_member_info(struct mpkshm_channel *ch,
				     uint64_t member_id,
				     struct mpkshm_member *out)
{
	struct mpkshm_member all[MPKSHM_MAX_MEMBERS];
	int n, i;

	if (!out || !member_id)
		return -EINVAL;
	n = mpkshm_members(ch, all, MPKSHM_MAX_MEMBERS);
	for (i = 0; i < n && i < MPKSHM_MAX_MEMBERS; i++) {
		if (all[i].member_id == member_id) {
			*out = all[i];
			return 0;
		}
	}
	return n < 0 ? n : -ENOENT;
}

MPKSHM_EXPORT int mpkshm_fd(struct mpkshm_channel *ch)
{
	int err = mpkshm_usable(ch);

	return err ? err : ch->fd;
}
