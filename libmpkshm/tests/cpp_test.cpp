// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * mpkshm.hpp, the C++ wrapper: each guard does what its comment promises
 * (a channel closes, an uncommitted reservation is abandoned, a peeked
 * message is released), timeouts are answers and other errors throw with
 * their errno, on every backend this machine has.  TAP, one line per
 * check and backend.
 */
#include <mpkshm.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <fcntl.h>
#include <linux/mpklink.h>
#include <sys/ioctl.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

int tests_run, tests_failed;

void tap(bool ok, const std::string &what, const std::string &why = "")
{
	++tests_run;
	if (!ok)
		++tests_failed;
	std::printf("%sok %d %s\n", ok ? "" : "not ", tests_run, what.c_str());
	if (!ok && !why.empty())
		std::printf("# %s\n", why.c_str());
	std::fflush(stdout);
}

std::string name_for(const char *tag)
{
	static int seq;

	return std::string("cpp.") + tag + "." + std::to_string(getpid()) +
	       "." + std::to_string(seq++);
}

mpkshm::options test_options(mpkshm_backend b)
{
	mpkshm::options o;

	o.backend(b).flags(MPKSHM_OPEN_CREATE).segment_size(64 * 1024);
	o.get()->close_timeout_ms = 200;
	return o;
}

std::span<const std::byte> text(const char *s)
{
	return std::as_bytes(std::span(s, std::strlen(s)));
}

bool equal(std::span<const std::byte> a, const char *s)
{
	return a.size() == std::strlen(s) && !std::memcmp(a.data(), s, a.size());
}

int echo(void *server, mpkshm_request *req)
{
	return mpkshm_reply(static_cast<mpkshm_channel *>(server), req,
			    req->data, req->len);
}

/* The kernel backend's channels are the administrator's to create. */
bool kernel_create(const std::string &name)
{
	mpklink_create c = {};
	mpklink_grant g = {};
	int dev = open(MPKLINK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	bool ok;

	if (dev < 0)
		return false;
	c.size = sizeof(c);
	c.segment_size = 64 * 1024;
	c.max_members = 8;
	g.size = sizeof(g);
	g.rights = MPKLINK_RIGHTS_ALL;
	g.principal.match = MPKLINK_MATCH_UID;
	g.principal.uid = geteuid();
	std::snprintf(c.name, sizeof(c.name), "%s", name.c_str());
	std::snprintf(g.name, sizeof(g.name), "%s", name.c_str());
	ok = !ioctl(dev, MPKLINK_IOC_CREATE, &c) &&
	     !ioctl(dev, MPKLINK_IOC_GRANT, &g);
	close(dev);
	return ok;
}

void run(mpkshm_backend b, const char *bname)
{
	const std::string tag = std::string(bname) + ": ";
	const std::string name = name_for(bname);
	mpkshm::options o = test_options(b);

	if (b == MPKSHM_BACKEND_KERNEL && !kernel_create(name)) {
		tap(false, tag + "channel created", std::strerror(errno));
		return;
	}
	mpkshm::channel a(name, o), c(name, o);
	std::byte buf[64];

	/* Copying: send and recv of spans. */
	bool sent = a.send(text("hello"));
	auto n = c.recv(buf, nullptr, 1000);
	tap(sent && n && equal(std::span(buf, *n), "hello"),
	    tag + "send and recv carry a span's bytes");

	/* A timeout is an empty optional, not an exception. */
	tap(!c.recv(buf, nullptr, 0), tag + "recv that times out is empty");

	/* A reservation committed is received whole. */
	{
		auto r = a.reserve(5, 1000);
		bool ok = r.has_value();

		if (ok) {
			std::memcpy(r->data().data(), "zcopy", 5);
			r->commit(5);
		}
		n = c.recv(buf, nullptr, 1000);
		tap(ok && n && equal(std::span(buf, *n), "zcopy"),
		    tag + "committed reservation is received");
	}

	/* One dropped uncommitted is abandoned: nothing goes, sends go on. */
	{
		auto r = a.reserve(8, 1000);

		tap(r.has_value(), tag + "reserve gives a reservation");
	}
	sent = a.send(text("after"));
	n = c.recv(buf, nullptr, 1000);
	tap(sent && n && equal(std::span(buf, *n), "after"),
	    tag + "reservation dropped uncommitted is abandoned");

	/* A commit too long throws and keeps the reservation to the guard. */
	{
		auto r = a.reserve(4, 1000);
		bool threw = false;

		try {
			if (r)
				r->commit(64);
		} catch (const std::system_error &e) {
			threw = e.code().value() == EMSGSIZE;
		}
		tap(r && threw, tag + "commit beyond the reservation throws EMSGSIZE");
	}
	sent = a.send(text("again"));
	n = c.recv(buf, nullptr, 1000);
	tap(sent && n && equal(std::span(buf, *n), "again"),
	    tag + "and the guard still abandons it: sends go on");

	/* A peek guard releases at its end: the next peek is the next one. */
	a.send(text("first"));
	a.send(text("second"));
	{
		auto p = c.peek(1000);

		tap(p && equal(p->data(), "first") && p->info().sender == a.id(),
		    tag + "peek shows the message in place, with its sender");
	}
	{
		auto p = c.peek(1000);

		tap(p && equal(p->data(), "second"),
		    tag + "peek guard released its message when it went");
	}

	/* Errors throw with their errno. */
	int code = 0;
	try {
		mpkshm::channel bad("no spaces allowed", o);
	} catch (const std::system_error &e) {
		code = e.code().value();
	}
	tap(code == EINVAL, tag + "bad channel name throws EINVAL",
	    "code " + std::to_string(code));

	/* Roles and calls: a server found by role answers a call. */
	mpkshm::options so = test_options(b);
	so.role("server");
	mpkshm::channel server(name, so);
	std::thread t([&] { mpkshm_serve(server.get(), echo, server.get()); });
	auto found = a.find_member("server", 5000);
	std::byte reply[16];
	auto len = found ? a.call(*found, text("ping"), reply, 5000) :
			   std::nullopt;
	mpkshm_serve_stop(server.get());
	t.join();
	tap(found && *found == server.id() && len &&
	    equal(std::span(reply, *len), "ping"),
	    tag + "server found by role answers a call");

	/* Moving a channel moves the endpoint; the moved-from one is empty. */
	mpkshm::channel moved(std::move(c));
	tap(moved.get() && !c.get(), tag + "moved channel owns the endpoint");
}

} // namespace

int main()
{
	struct backend {
		mpkshm_backend b;
		const char *name;
	} backends[] = {
		{ MPKSHM_BACKEND_THREAD, "thread" },
		{ MPKSHM_BACKEND_MEMFD, "memfd" },
	};

	std::vector<backend> all(std::begin(backends), std::end(backends));
	/* The kernel backend where there is a module and we may create. */
	if (!access(MPKLINK_DEVICE_PATH, R_OK | W_OK) && geteuid() == 0)
		all.push_back({ MPKSHM_BACKEND_KERNEL, "kernel" });
	for (const backend &b : all) {
		try {
			run(b.b, b.name);
		} catch (const std::system_error &e) {
			tap(false, std::string(b.name) + ": ran to the end",
			    e.what() + std::string(": ") + e.code().message());
		}
	}
	std::printf("1..%d\n", tests_run);
	return tests_failed ? 1 : 0;
}
