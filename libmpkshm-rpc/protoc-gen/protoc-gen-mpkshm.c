// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * protoc-gen-mpkshm: a protoc plugin that writes, beside protoc-c's
 * FILE.pb-c.h, a header FILE.mpkshm.h of typed helpers for each service
 * of FILE.proto: a client constructor, per method a blocking call and an
 * asynchronous start, and a server registration.
 *
 *   protoc --c_out=DIR --mpkshm_out=DIR FILE.proto
 *
 * It reads protoc's CodeGeneratorRequest with protobuf-c's own code for
 * plugin.proto and descriptor.proto (generated at build time by protoc-c),
 * and names things exactly as protoc-c's service generator does, so the
 * helpers call protoc-c's types and descriptors.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "google/protobuf/compiler/plugin.pb-c.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest Request;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse Response;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File OutFile;
typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__ServiceDescriptorProto ServiceProto;
typedef Google__Protobuf__MethodDescriptorProto MethodProto;

/* A growing string; out of memory ends the program (protoc reports it). */
struct text {
	char *s;
	size_t len, cap;
};

static void die(const char *what)
{
	fprintf(stderr, "protoc-gen-mpkshm: %s\n", what);
	exit(1);
}

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *bigger;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("cannot format");
		if ((size_t)n < t->cap - t->len)
			break;
		bigger = realloc(t->s, (t->cap + (size_t)n + 1) * 2);
		if (!bigger)
			die("out of memory");
		t->s = bigger;
		t->cap = (t->cap + (size_t)n + 1) * 2;
	}
	t->len += (size_t)n;
}

static char *text_take(struct text *t)
{
	char *s = t->s ? t->s : strdup("");

	*t = (struct text){ 0 };
	return s;
}

/*
 * protoc-c's names.  A full name's dot-separated parts joined by "__",
 * each part either CamelCase with its underscores dropped (types: "Foo"
 * for foo, "FooBar" for foo_bar) or lower_case with an underscore before
 * each capital that follows a small letter (functions: "foo_bar" for
 * FooBar).
 */
static void name_part(struct text *t, const char *p, size_t n, bool type)
{
	bool up = true, was_upper = true;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (type) {
			if (c == '_') {
				up = true;
				continue;
			}
			put(t, "%c", up ? toupper((unsigned char)c) : c);
			up = false;
		} else {
			bool is_upper = isupper((unsigned char)c);

			if (is_upper && !was_upper)
				put(t, "_");
			put(t, "%c", is_upper ? tolower((unsigned char)c) : c);
			was_upper = is_upper;
		}
	}
}

static char *c_name(const char *full, bool type)
{
	struct text t = { 0 };
	const char *p = full, *dot;

	for (;;) {
		dot = strchr(p, '.');
		if (dot != p) {		/* empty parts: a leading dot */
			if (t.len)
				put(&t, "__");
			name_part(&t, p, dot ? (size_t)(dot - p) : strlen(p),
				  type);
		}
		if (!dot)
			break;
		p = dot + 1;
	}
	return text_take(&t);
}

static char *joined(const char *package, const char *name)
{
	struct text t = { 0 };

	if (package && *package)
		put(&t, "%s.%s", package, name);
	else
		put(&t, "%s", name);
	return text_take(&t);
}

/* "dir/foo.proto" -> "foo" (protoc-c writes dir/foo.pb-c.h beside us). */
static char *base_name(const char *file, bool keep_dir)
{
	const char *slash = strrchr(file, '/');
	const char *start = keep_dir || !slash ? file : slash + 1;
	size_t len = strlen(start);
	char *s;

	if (len > 6 && !strcmp(start + len - 6, ".proto"))
		len -= 6;
	s = strndup(start, len);
	if (!s)
		die("out of memory");
	return s;
}

static void method_helpers(struct text *t, const char *service_lc,
			   const char *desc, const MethodProto *m,
			   unsigned int index)
{
	char *in = c_name(m->input_type, true);
	char *out = c_name(m->output_type, true);
	char *out_lc = c_name(m->output_type, false);
	char *lc = c_name(m->name, false);

	put(t, "/*\n * rpc %s(%s) returns (%s).\n"
	       " * MPKRPC_OK: *@resp is the reply, to free with\n"
	       " * %s__free_unpacked(*resp, NULL).\n */\n",
	    m->name, m->input_type + (*m->input_type == '.'),
	    m->output_type + (*m->output_type == '.'), out_lc);
	put(t, "static inline int %s__%s_call(struct mpkrpc_client *client,\n"
	       "\t\tconst %s *req, %s **resp, int timeout_ms)\n{\n"
	       "\tProtobufCMessage *reply = NULL;\n\tint status;\n\n"
	       "\tif (!client || !req || !resp ||\n"
	       "\t    mpkrpc_client_service(client)->descriptor != &%s)\n"
	       "\t\treturn MPKRPC_INVALID_ARGUMENT;\n"
	       "\tstatus = mpkrpc_call(client, %u, &req->base, &reply, timeout_ms);\n"
	       "\t*resp = (%s *)reply;\n\treturn status;\n}\n\n",
	    service_lc, lc, in, out, desc, index, out);
	put(t, "/* The same, in flight: @closure gets the reply from mpkrpc_client_dispatch(). */\n");
	put(t, "static inline int %s__%s_start(struct mpkrpc_client *client,\n"
	       "\t\tconst %s *req, %s_Closure closure, void *closure_data,\n"
	       "\t\tint timeout_ms, uint64_t *call)\n{\n"
	       "\tif (!client || !req ||\n"
	       "\t    mpkrpc_client_service(client)->descriptor != &%s)\n"
	       "\t\treturn MPKRPC_INVALID_ARGUMENT;\n"
	       "\treturn mpkrpc_call_start(client, %u, &req->base,\n"
	       "\t\t\t\t (ProtobufCClosure)closure, closure_data,\n"
	       "\t\t\t\t timeout_ms, call);\n}\n\n",
	    service_lc, lc, in, out, desc, index);
	free(in);
	free(out);
	free(out_lc);
	free(lc);
}

static void service_helpers(struct text *t, const FileProto *f,
			    const ServiceProto *s)
{
	char *full = joined(f->package, s->name);
	char *lc = c_name(full, false);
	char *cname = c_name(full, true);
	char desc[512];
	size_t i;

	snprintf(desc, sizeof(desc), "%s__descriptor", lc);
	put(t, "/* --- service %s --- */\n\n", full);
	put(t, "/* A client of %s, served by member @server of @ch. */\n", full);
	put(t, "static inline int %s__client_new(struct mpkshm_channel *ch,\n"
	       "\t\tuint64_t server, struct mpkrpc_client **out)\n{\n"
	       "\treturn mpkrpc_client_new(ch, server, &%s, out);\n}\n\n",
	    lc, desc);
	for (i = 0; i < s->n_method; i++) {
		const MethodProto *m = s->method[i];

		/* protoc-c makes unary stubs of them; we make nothing. */
		if (m->client_streaming || m->server_streaming)
			put(t, "/* rpc %s streams: no helpers (unary calls only). */\n\n",
			    m->name);
		else
			method_helpers(t, lc, desc, m, (unsigned int)i);
	}
	put(t, "/*\n * Serves @impl (made with protoc-c's initializer for %s_Service)\n"
	       " * on @server from now on.\n */\n", cname);
	put(t, "static inline int %s__serve(struct mpkrpc_server *server,\n"
	       "\t\t%s_Service *impl)\n{\n"
	       "\treturn mpkrpc_server_add(server, &impl->base);\n}\n\n",
	    lc, cname);
	free(full);
	free(lc);
	free(cname);
}

static OutFile *generate(const FileProto *f)
{
	struct text t = { 0 };
	char *base = base_name(f->name, false), *path = base_name(f->name, true);
	OutFile *out;
	size_t i;

	put(&t, "/* Generated by protoc-gen-mpkshm from %s: do not edit. */\n",
	    f->name);
	put(&t, "#ifndef PROTOC_GEN_MPKSHM_");
	for (i = 0; f->name[i]; i++)
		put(&t, "%c", isalnum((unsigned char)f->name[i]) ?
			       toupper((unsigned char)f->name[i]) : '_');
	put(&t, "_MPKSHM_H\n#define PROTOC_GEN_MPKSHM_");
	for (i = 0; f->name[i]; i++)
		put(&t, "%c", isalnum((unsigned char)f->name[i]) ?
			       toupper((unsigned char)f->name[i]) : '_');
	put(&t, "_MPKSHM_H\n\n#include <mpkshm-rpc.h>\n\n#include \"%s.pb-c.h\"\n\n", base);
	for (i = 0; i < f->n_service; i++)
		service_helpers(&t, f, f->service[i]);
	put(&t, "#endif\n");

	out = malloc(sizeof(*out));
	if (!out)
		die("out of memory");
	google__protobuf__compiler__code_generator_response__file__init(out);
	{
		struct text name = { 0 };

		put(&name, "%s.mpkshm.h", path);
		out->name = text_take(&name);
	}
	out->content = text_take(&t);
	free(base);
	free(path);
	return out;
}

static uint8_t *read_all(size_t *len)
{
	size_t cap = 1 << 16;
	uint8_t *buf = malloc(cap), *bigger;
	ssize_t n;

	*len = 0;
	for (;;) {
		if (!buf)
			die("out of memory");
		if (*len == cap) {
			cap *= 2;
			bigger = realloc(buf, cap);
			if (!bigger)
				die("out of memory");
			buf = bigger;
		}
		n = read(0, buf + *len, cap - *len);
		if (n < 0)
			die("cannot read the request");
		if (n == 0)
			return buf;
		*len += (size_t)n;
	}
}

int main(void)
{
	Response resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
	OutFile **files;
	Request *req;
	size_t len, i, j, n = 0, off;
	uint8_t *buf = read_all(&len);

	req = google__protobuf__compiler__code_generator_request__unpack(NULL, len,
									  buf);
	if (!req)
		die("the request does not unpack (run me from protoc)");
	files = calloc(req->n_file_to_generate + 1, sizeof(*files));
	if (!files)
		die("out of memory");
	for (i = 0; i < req->n_file_to_generate; i++) {
		for (j = 0; j < req->n_proto_file; j++) {
			const FileProto *f = req->proto_file[j];

			if (strcmp(f->name, req->file_to_generate[i]) ||
			    !f->n_service)
				continue;
			files[n++] = generate(f);
		}
	}
	resp.n_file = n;
	resp.file = files;
	len = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
	free(buf);
	buf = malloc(len ? len : 1);
	if (!buf)
		die("out of memory");
	google__protobuf__compiler__code_generator_response__pack(&resp, buf);
	for (off = 0; off < len;) {
		ssize_t w = write(1, buf + off, len - off);

		if (w <= 0)
			die("cannot write the response");
		off += (size_t)w;
	}
	return 0;
}
