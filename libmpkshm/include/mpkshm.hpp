// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * mpkshm.hpp: a header-only C++20 wrapper of libmpkshm (mpkshm.h).
 *
 * RAII for what the C API asks callers to pair: an endpoint closes when
 * its mpkshm::channel goes, a zero-copy reservation is abandoned unless it
 * was committed, a peeked message is released when its guard goes.  Bytes
 * are std::span<std::byte>; errors are std::system_error carrying the
 * errno (e.code().value()), except that waits which time out return an
 * empty std::optional (or false) rather than throw: in an event loop a
 * timeout is an answer, not a failure.
 *
 * Link as for C: pkg-config --cflags --libs mpkshm.
 */
#ifndef MPKSHM_HPP
#define MPKSHM_HPP

/*
 * mpkshm_info() and mpkshm_serve_stats() share their names with the
 * structures they fill, which C++'s -Wshadow reports as hiding the
 * structures' constructors: the C API's names, not the caller's mistake.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include <mpkshm.h>
#pragma GCC diagnostic pop

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

namespace mpkshm {

/* Throws for a negative errno, else returns @ret. */
inline long check(long ret, const char *what)
{
	if (ret < 0)
		throw std::system_error(static_cast<int>(-ret),
					std::generic_category(), what);
	return ret;
}

/* Like check(), but a timeout is "no": false. */
inline bool check_timeout(long ret, const char *what)
{
	if (ret == -ETIMEDOUT)
		return false;
	check(ret, what);
	return true;
}

inline constexpr int forever = -1;

/* mpkshm_options with its defaults, and setters that chain. */
class options {
public:
	options() { mpkshm_options_init(&o_); }
	options &backend(mpkshm_backend b) { o_.backend = b; return *this; }
	options &flags(unsigned int f) { o_.flags = f; return *this; }
	options &spin_us(unsigned int us) { o_.spin_us = us; return *this; }
	options &segment_size(std::size_t s) { o_.segment_size = s; return *this; }
	options &max_members(unsigned int n) { o_.max_members = n; return *this; }
	/* The string must outlive the channel's opening. */
	options &role(const char *r) { o_.role = r; return *this; }
	options &secret_key_path(const char *p) { o_.secret_key_path = p; return *this; }
	const mpkshm_options *get() const { return &o_; }
	mpkshm_options *get() { return &o_; }

private:
	mpkshm_options o_;
};

class channel;

/*
 * A zero-copy reservation: bytes in this endpoint's segment, with the key
 * open for writing in this thread, until commit() or the guard's end
 * (which abandons it).  Use it in the thread that reserved.
 */
class reservation {
public:
	reservation(reservation &&o) noexcept
		: ch_(std::exchange(o.ch_, nullptr)), data_(o.data_) {}
	reservation &operator=(reservation &&o) noexcept
	{
		if (this != &o) {
			abandon();
			ch_ = std::exchange(o.ch_, nullptr);
			data_ = o.data_;
		}
		return *this;
	}
	reservation(const reservation &) = delete;
	reservation &operator=(const reservation &) = delete;
	~reservation() { abandon(); }

	std::span<std::byte> data() const { return data_; }

	/* Publishes the first @len bytes to @dest (a member id, or all). */
	void commit(std::size_t len, std::uint64_t dest = MPKSHM_TO_ALL)
	{
		int err = ch_ ? mpkshm_commit(ch_, len, dest) : -EINVAL;

		/* EMSGSIZE keeps the reservation: still the guard's to end. */
		if (err != -EMSGSIZE)
			ch_ = nullptr;
		check(err, "mpkshm_commit");
	}

	void abandon() noexcept
	{
		if (ch_)
			mpkshm_abandon(std::exchange(ch_, nullptr));
	}

private:
	friend class channel;
	reservation(mpkshm_channel *ch, std::span<std::byte> data)
		: ch_(ch), data_(data) {}

	mpkshm_channel *ch_;
	std::span<std::byte> data_;
};

/*
 * A message received in place: data() points into its sender's segment,
 * read-only, valid until release() or the guard's end.
 */
class peek_guard {
public:
	peek_guard(peek_guard &&o) noexcept
		: ch_(std::exchange(o.ch_, nullptr)), msg_(o.msg_) {}
	peek_guard &operator=(peek_guard &&o) noexcept
	{
		if (this != &o) {
			release_quietly();
			ch_ = std::exchange(o.ch_, nullptr);
			msg_ = o.msg_;
		}
		return *this;
	}
	peek_guard(const peek_guard &) = delete;
	peek_guard &operator=(const peek_guard &) = delete;
	~peek_guard() { release_quietly(); }

	std::span<const std::byte> data() const
	{
		return { static_cast<const std::byte *>(msg_.data), msg_.len };
	}
	const mpkshm_msg &info() const { return msg_; }

	/*
	 * Consumes the message.  Throws ECONNRESET or ENOBUFS when what was
	 * read of it may not be what was sent: discard what you took.
	 */
	void release()
	{
		mpkshm_channel *ch = std::exchange(ch_, nullptr);

		check(ch ? mpkshm_release(ch, &msg_) : -EINVAL,
		      "mpkshm_release");
	}

private:
	friend class channel;
	peek_guard(mpkshm_channel *ch, const mpkshm_msg &msg)
		: ch_(ch), msg_(msg) {}

	void release_quietly() noexcept
	{
		if (ch_)
			mpkshm_release(std::exchange(ch_, nullptr), &msg_);
	}

	mpkshm_channel *ch_;
	mpkshm_msg msg_;
};

/* An endpoint: mpkshm_open() to mpkshm_close(). */
class channel {
public:
	explicit channel(const std::string &name, const options &o = options())
	{
		check(mpkshm_open(name.c_str(), o.get(), &ch_), "mpkshm_open");
	}
	channel(channel &&o) noexcept : ch_(std::exchange(o.ch_, nullptr)) {}
	channel &operator=(channel &&o) noexcept
	{
		if (this != &o) {
			if (ch_)
				mpkshm_close(ch_);
			ch_ = std::exchange(o.ch_, nullptr);
		}
		return *this;
	}
	channel(const channel &) = delete;
	channel &operator=(const channel &) = delete;
	~channel()
	{
		if (ch_)
			mpkshm_close(ch_);
	}

	mpkshm_channel *get() const noexcept { return ch_; }

	/* "struct": the C function of the same name hides the type. */
	struct mpkshm_info info() const
	{
		struct mpkshm_info i;

		check(mpkshm_info(ch_, &i), "mpkshm_info");
		return i;
	}
	std::uint64_t id() const { return info().member_id; }
	int fd() const { return static_cast<int>(check(mpkshm_fd(ch_), "mpkshm_fd")); }

	/* Copies @msg out; false when it timed out (nothing or part sent). */
	bool send(std::span<const std::byte> msg,
		  std::uint64_t dest = MPKSHM_TO_ALL, int timeout_ms = forever)
	{
		return check_timeout(mpkshm_send(ch_, dest, msg.data(),
						 msg.size(), timeout_ms),
				     "mpkshm_send");
	}

	/* The next message's length, copied to @buf; nothing on a timeout. */
	std::optional<std::size_t> recv(std::span<std::byte> buf,
					mpkshm_msg *info = nullptr,
					int timeout_ms = forever)
	{
		ssize_t n = mpkshm_recv(ch_, buf.data(), buf.size(), info,
					timeout_ms);

		if (!check_timeout(n, "mpkshm_recv"))
			return std::nullopt;
		return static_cast<std::size_t>(n);
	}

	std::optional<reservation> reserve(std::size_t len,
					   int timeout_ms = forever)
	{
		void *buf;

		if (!check_timeout(mpkshm_reserve(ch_, len, &buf, timeout_ms),
				   "mpkshm_reserve"))
			return std::nullopt;
		return reservation(ch_, { static_cast<std::byte *>(buf), len });
	}

	std::optional<peek_guard> peek(int timeout_ms = forever)
	{
		mpkshm_msg m;

		if (!check_timeout(mpkshm_peek(ch_, &m, timeout_ms),
				   "mpkshm_peek"))
			return std::nullopt;
		return peek_guard(ch_, m);
	}

	/*
	 * Calls @server with @req; the reply goes to @resp and its length is
	 * returned.  Errors the server's handler returned are thrown too.
	 */
	std::optional<std::size_t> call(std::uint64_t server,
					 std::span<const std::byte> req,
					 std::span<std::byte> resp,
					 int timeout_ms = forever)
	{
		std::size_t len = 0;

		if (!check_timeout(mpkshm_call(ch_, server, req.data(),
					       req.size(), resp.data(),
					       resp.size(), &len, timeout_ms),
				   "mpkshm_call"))
			return std::nullopt;
		return len;
	}

	/* Another member announcing @role (nullptr: any other writer). */
	std::optional<std::uint64_t> find_member(const char *role,
						 int timeout_ms = forever)
	{
		std::uint64_t id;

		if (!check_timeout(mpkshm_find_member(ch_, role, &id,
						      timeout_ms),
				   "mpkshm_find_member"))
			return std::nullopt;
		return id;
	}

	/* Event loops: true when there is something to do (do not sleep). */
	bool wait_prepare()
	{
		return check(mpkshm_wait_prepare(ch_), "mpkshm_wait_prepare");
	}
	bool wait_prepare_send(std::size_t len)
	{
		return check(mpkshm_wait_prepare_send(ch_, len),
			     "mpkshm_wait_prepare_send");
	}

private:
	mpkshm_channel *ch_ = nullptr;
};

/* The bytes of an object or string, for send() and call(). */
template <typename T>
std::span<const std::byte> bytes_of(const T &v)
{
	return std::as_bytes(std::span(&v, 1));
}
inline std::span<const std::byte> bytes_of(const std::string &s)
{
	return std::as_bytes(std::span(s.data(), s.size()));
}

} // namespace mpkshm

#endif /* MPKSHM_HPP */
