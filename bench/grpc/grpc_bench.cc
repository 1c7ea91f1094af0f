// SPDX-License-Identifier: GPL-2.0
/*
 * grpc_bench: the benchmark's workloads over gRPC unary and client-streaming
 * calls on loopback TCP, with Debian's gRPC, printing the same CSV rows as
 * mpkbench (whose checksum, word counter and statistics it links).
 *
 *   grpc_bench latency    -s BYTES -n ROUND_TRIPS
 *   grpc_bench throughput -s BYTES -b TOTAL_BYTES
 *   grpc_bench wordcount  -f FILE -r RUNS
 *
 * The server runs in a child process.  gRPC waits by blocking (its
 * completion queues), so there is no spin mode.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench.grpc.pb.h"
#include "../bench.h"

namespace {

const char kTransport[] = "grpc";
/* "block" when asked for it (gRPC always blocks), as mpkbench prints. */
const char *kMode = "default";

class BenchService final : public mpkbench::Bench::Service {
	grpc::Status Echo(grpc::ServerContext *, const mpkbench::Blob *req,
			  mpkbench::Blob *resp) override
	{
		resp->set_data(req->data());
		return grpc::Status::OK;
	}

	grpc::Status Sink(grpc::ServerContext *,
			  grpc::ServerReader<mpkbench::Blob> *reader,
			  mpkbench::Summary *summary) override
	{
		mpkbench::Blob blob;
		uint64_t bytes = 0, sum = 0;

		while (reader->Read(&blob)) {
			bytes += blob.data().size();
			sum = checksum(blob.data().data(), blob.data().size(), sum);
		}
		summary->set_bytes(bytes);
		summary->set_checksum(sum);
		return grpc::Status::OK;
	}

	grpc::Status Count(grpc::ServerContext *, const mpkbench::Blob *req,
			   mpkbench::Words *words) override
	{
		struct word_counter wc = {};

		count_words(&wc, req->data().data(), req->data().size());
		words->set_words(wc.words + wc.in_word);
		return grpc::Status::OK;
	}
};

/* Serves on a free loopback port, which goes to the parent over @fd. */
[[noreturn]] void run_server(int fd)
{
	BenchService service;
	grpc::ServerBuilder builder;
	int port = 0;

	builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
				 &port);
	builder.SetMaxReceiveMessageSize(INT_MAX);
	builder.SetMaxSendMessageSize(INT_MAX);
	builder.RegisterService(&service);
	std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
	if (!server || write(fd, &port, sizeof(port)) != sizeof(port))
		_exit(1);
	server->Wait();
	_exit(0);
}

[[noreturn]] void usage()
{
	fputs("usage: grpc_bench latency -s BYTES -n ROUND_TRIPS\n"
	      "       grpc_bench throughput -s BYTES -b TOTAL_BYTES\n"
	      "       grpc_bench wordcount -f FILE -r RUNS\n", stderr);
	exit(2);
}

[[noreturn]] void fail(const char *what, const std::string &why)
{
	fprintf(stderr, "grpc_bench: %s: %s\n", what, why.c_str());
	exit(1);
}

int latency(mpkbench::Bench::Stub *stub, size_t size, unsigned int iters)
{
	unsigned int warm = warm_ups(size, iters / 10 + 1);
	std::vector<uint64_t> times(iters);
	std::string payload(size, '\0');
	mpkbench::Blob req, resp;
	double ns[4];

	fill_pattern(&payload[0], size, size);
	req.set_data(payload);
	for (unsigned int i = 0; i < warm + iters; i++) {
		grpc::ClientContext ctx;
		uint64_t start = now_ns();
		grpc::Status st = stub->Echo(&ctx, req, &resp);

		if (i >= warm)
			times[i - warm] = now_ns() - start;
		if (!st.ok())
			fail("Echo", st.error_message());
		if (resp.data() != payload)
			fail("Echo", "the reply is not the request");
	}
	latency_stats(times.data(), iters, ns);
	print_row("latency", kTransport, kMode, size, "p50_ns", ns[0]);
	print_row("latency", kTransport, kMode, size, "p99_ns", ns[1]);
	print_row("latency", kTransport, kMode, size, "p999_ns", ns[2]);
	print_row("latency", kTransport, kMode, size, "mean_ns", ns[3]);
	return 0;
}

int throughput(mpkbench::Bench::Stub *stub, size_t size, uint64_t total)
{
	uint64_t count = (total + size - 1) / size, start = now_ns();
	std::string payload(size, '\0');
	grpc::ClientContext ctx;
	mpkbench::Summary summary;
	mpkbench::Blob blob;

	fill_pattern(&payload[0], size, size);
	blob.set_data(payload);
	{	/* warm up: one small stream, not timed */
		grpc::ClientContext warm_ctx;
		mpkbench::Summary warm;
		auto w = stub->Sink(&warm_ctx, &warm);

		w->Write(blob);
		w->WritesDone();
		w->Finish();
	}
	start = now_ns();
	std::unique_ptr<grpc::ClientWriter<mpkbench::Blob>> writer(
		stub->Sink(&ctx, &summary));
	for (uint64_t i = 0; i < count; i++)
		if (!writer->Write(blob))
			fail("Sink", "the stream broke");
	writer->WritesDone();
	grpc::Status st = writer->Finish();
	double s = (double)(now_ns() - start) / 1e9;

	if (!st.ok())
		fail("Sink", st.error_message());
	if (summary.bytes() != count * size ||
	    summary.checksum() != checksum(payload.data(), size, 0) * count)
		fail("Sink", "bytes or checksum differ");
	print_row("throughput", kTransport, kMode, size, "gbps",
		  (double)count * size / s / 1e9);
	print_row("throughput", kTransport, kMode, size, "msgs_per_s", count / s);
	return 0;
}

int wordcount(mpkbench::Bench::Stub *stub, const char *path, unsigned int runs)
{
	struct word_counter truth = {};
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		fail(path, strerror(errno));
	void *p = mmap(nullptr, st.st_size ? st.st_size : 1, PROT_READ,
		       MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		fail(path, strerror(errno));
	count_words(&truth, p, st.st_size);
	uint64_t words = truth.words + truth.in_word;

	/* Warm-up runs are not reported, as in mpkbench. */
	unsigned int warm = warm_ups(st.st_size, 1);

	for (unsigned int i = 0; i < warm + runs; i++) {
		grpc::ClientContext ctx;
		mpkbench::Blob req;
		mpkbench::Words resp;
		uint64_t start = now_ns();

		/* Building the request is part of sending it, as for the others. */
		req.set_data(static_cast<const char *>(p), st.st_size);
		grpc::Status status = stub->Count(&ctx, req, &resp);
		double s = (double)(now_ns() - start) / 1e9;

		if (!status.ok())
			fail("Count", status.error_message());
		if (resp.words() != words)
			fail("Count", "wrong number of words");
		if (i >= warm)
			print_row("wordcount", kTransport, kMode, words, "seconds", s);
	}
	munmap(p, st.st_size ? st.st_size : 1);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	unsigned long long size = 0, iters = 0, total = 0, runs = 0;
	const char *file = nullptr;
	int opt, pipefd[2], port = 0;

	if (argc < 2)
		usage();
	std::string workload = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "t:m:s:n:b:f:r:")) != -1) {
		switch (opt) {
		case 't':	/* accepted for symmetry with mpkbench */
			break;
		case 'm':
			if (strcmp(optarg, "default") && strcmp(optarg, "block")) {
				fprintf(stderr, "grpc_bench: gRPC only blocks\n");
				return 2;
			}
			if (!strcmp(optarg, "block"))
				kMode = "block";
			break;
		case 's': size = strtoull(optarg, nullptr, 0); break;
		case 'n': iters = strtoull(optarg, nullptr, 0); break;
		case 'b': total = strtoull(optarg, nullptr, 0); break;
		case 'f': file = optarg; break;
		case 'r': runs = strtoull(optarg, nullptr, 0); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (pipe(pipefd))
		fail("pipe", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		pin_to_cpu(1);
		run_server(pipefd[1]);
	}
	pin_to_cpu(0);
	close(pipefd[1]);
	if (pid < 0 || read(pipefd[0], &port, sizeof(port)) != sizeof(port))
		fail("server", "did not start");
	close(pipefd[0]);

	grpc::ChannelArguments args;
	args.SetMaxReceiveMessageSize(INT_MAX);
	args.SetMaxSendMessageSize(INT_MAX);
	auto channel = grpc::CreateCustomChannel(
		"127.0.0.1:" + std::to_string(port),
		grpc::InsecureChannelCredentials(), args);
	auto stub = mpkbench::Bench::NewStub(channel);

	if (workload == "latency" && size && iters)
		latency(stub.get(), size, iters);
	else if (workload == "throughput" && size && total)
		throughput(stub.get(), size, total);
	else if (workload == "wordcount" && file && runs)
		wordcount(stub.get(), file, runs);
	else
		usage();
	fflush(stdout);
	kill(pid, SIGTERM);
	waitpid(pid, nullptr, 0);
	return 0;
}
