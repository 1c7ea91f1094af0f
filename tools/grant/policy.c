// SPDX-License-Identifier: GPL-2.0
/*
 * The policy file: what channels exist and who may use them, for a whole
 * host.  Documented in mpklink-grant(8); for example:
 *
 *	# orders flow from the web front end to the order service
 *	channel orders {
 *		size 1M			# each writer's segment
 *		members 8
 *		grant user=web rw
 *		grant user=orders,exe=/usr/bin/order-svc rw
 *		container cgroup=/mpklink.slice/shop.slice rw
 *	}
 *
 * A container statement grants nothing by itself: it is the most a
 * container below that cgroup may ask for, which the OCI hook
 * (cmd_oci_hook.c) grants to the container's own cgroup (containers.c).
 *
 * Statements end at a newline or ';'.  '#' starts a comment.  A word may
 * contain a double-quoted part ("\"" and "\\" escape), which keeps spaces,
 * commas and '#' in it.
 *
 * Parsing checks everything that needs no lookup and stops at the first
 * error, reported as FILE:LINE:COLUMN (columns count bytes).  Resolving
 * (users, groups, executables, cgroups, key files) is a second pass, so
 * the fuzzer can drive the parser without touching the file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"

enum tok_kind { T_EOF, T_WORD, T_OPEN, T_CLOSE, T_END };

struct token {
	enum tok_kind kind;
	const char *text;	/* T_WORD: as written, quotes included */
	size_t len;
	struct where at;
};

struct parser {
	const char *file;
	const char *p, *end;
	unsigned int line;
	const char *line_start;
	struct token tok;	/* the current token */
	char *err;
	size_t err_room;
	bool failed;
};

static void fail_at(struct parser *ps, const struct where *at,
		    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_at(struct parser *ps, const struct where *at,
		    const char *fmt, ...)
{
	int n;
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = true;
	n = snprintf(ps->err, ps->err_room, "%s:%u:%u: ", ps->file, at->line,
		     at->col);
	if (n < 0 || (size_t)n >= ps->err_room)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->err_room - (size_t)n, fmt, ap);
	va_end(ap);
}

/* How a token reads in a message. */
static const char *describe(const struct token *t, char *buf, size_t room)
{
	switch (t->kind) {
	case T_EOF:
		return "the end of the file";
	case T_OPEN:
		return "'{'";
	case T_CLOSE:
		return "'}'";
	case T_END:
		return t->len && t->text[0] == ';' ? "';'" : "the end of the line";
	default:
		snprintf(buf, room, "'%.*s'", (int)(t->len > 40 ? 40 : t->len),
			 t->text);
		return buf;
	}
}

static bool word_is(const struct token *t, const char *s)
{
	return t->kind == T_WORD && t->len == strlen(s) &&
	       !memcmp(t->text, s, t->len);
}

/* --- the lexer ----------------------------------------------------------- */

static void next(struct parser *ps)
{
	struct token *t = &ps->tok;
	const char *c = ps->p;

	/* Blanks and comments. */
	for (;;) {
		while (c < ps->end && (*c == ' ' || *c == '\t' || *c == '\r'))
			c++;
		if (c < ps->end && *c == '#') {
			while (c < ps->end && *c != '\n')
				c++;
			continue;
		}
		break;
	}
	t->text = c;
	t->len = 1;
	t->at.file = ps->file;
	t->at.line = ps->line;
	t->at.col = (unsigned int)(c - ps->line_start) + 1;
	if (c >= ps->end) {
		t->kind = T_EOF;
		t->len = 0;
		ps->p = c;
		return;
	}
	switch (*c) {
	case '\n':
		t->kind = T_END;
		ps->line++;
		ps->line_start = c + 1;
		ps->p = c + 1;
		return;
	case ';':
		t->kind = T_END;
		ps->p = c + 1;
		return;
	case '{':
		t->kind = T_OPEN;
		ps->p = c + 1;
		return;
	case '}':
		t->kind = T_CLOSE;
		ps->p = c + 1;
		return;
	default:
		break;
	}
	t->kind = T_WORD;
	while (c < ps->end && !strchr(" \t\r\n;{}#", *c)) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			struct where at = t->at;

			at.col = (unsigned int)(c - ps->line_start) + 1;
			fail_at(ps, &at, "unexpected control character 0x%02x",
				(unsigned char)*c);
			t->kind = T_EOF;
			return;
		}
		if (*c == '"') {
			const char *open = c;

			for (c++; c < ps->end && *c != '"' && *c != '\n'; c++)
				if (*c == '\\' && c + 1 < ps->end &&
				    (c[1] == '"' || c[1] == '\\'))
					c++;
			if (c >= ps->end || *c != '"') {
				struct where at = t->at;

				at.col = (unsigned int)(open - ps->line_start) + 1;
				fail_at(ps, &at,
					"unterminated quoted string (quotes close on the same line)");
				t->kind = T_EOF;
				return;
			}
		}
		c++;
	}
	t->len = (size_t)(c - t->text);
	ps->p = c;
}

/* A word without its quotes, into @buf (NUL-terminated). */
static int unquote(const struct token *t, char *buf, size_t room)
{
	size_t i, n = 0;

	for (i = 0; i < t->len; i++) {
		char ch = t->text[i];

		if (ch == '"')
			continue;
		if (ch == '\\' && i + 1 < t->len &&
		    (t->text[i + 1] == '"' || t->text[i + 1] == '\\'))
			ch = t->text[++i];
		if (n + 1 >= room)
			return -1;
		buf[n++] = ch;
	}
	buf[n] = 0;
	return 0;
}

/* --- the parser ---------------------------------------------------------- */

static void skip_ends(struct parser *ps)
{
	while (!ps->failed && ps->tok.kind == T_END)
		next(ps);
}

/* After a statement: a newline, ';', or the block's '}'. */
static void end_of_statement(struct parser *ps, const char *what)
{
	char buf[64];

	if (ps->tok.kind == T_END) {
		next(ps);
		return;
	}
	if (ps->tok.kind == T_CLOSE)
		return;
	fail_at(ps, &ps->tok.at, "expected the end of the %s statement, found %s",
		what, describe(&ps->tok, buf, sizeof(buf)));
}

/* The statement's value: a word on the same line. */
static bool value(struct parser *ps, const char *statement, const char *what)
{
	char buf[64];

	next(ps);
	if (ps->tok.kind == T_WORD)
		return true;
	fail_at(ps, &ps->tok.at, "expected %s after '%s', found %s", what,
		statement, describe(&ps->tok, buf, sizeof(buf)));
	return false;
}

/* Room for one more: capacity is @count rounded up to a power of two. */
static void *grow(void *array, unsigned int count, size_t size)
{
	if (count & (count - 1))
		return array;
	return realloc(array, (count ? 2 * (size_t)count : 1) * size);
}

/* grant and container: PRINCIPAL RIGHTS [pubkey HEX | pubkey-file PATH] */
static void parse_grant(struct parser *ps, struct policy_channel *ch,
			bool container)
{
	const char *statement = container ? "container" : "grant";
	struct policy_grant **array = container ? &ch->containers : &ch->grants;
	unsigned int *count = container ? &ch->nr_containers : &ch->nr_grants;
	struct policy_grant *g, *grants;
	char err[ERROR_MAX], buf[64];
	size_t err_off = 0;

	if (!value(ps, statement, container ?
		   "a principal with cgroup=PARENT" :
		   "a principal such as user=NAME"))
		return;
	grants = grow(*array, *count, sizeof(*grants));
	if (!grants) {
		fail_at(ps, &ps->tok.at, "out of memory");
		return;
	}
	*array = grants;
	g = &grants[*count];
	memset(g, 0, sizeof(*g));
	g->at = ps->tok.at;
	g->principal_text = strndup(ps->tok.text, ps->tok.len);
	g->principal_len = ps->tok.len;
	if (!g->principal_text) {
		fail_at(ps, &g->at, "out of memory");
		return;
	}
	(*count)++;
	if (principal_parse(ps->tok.text, ps->tok.len, &g->principal, NULL,
			    err, &err_off)) {
		struct where at = g->at;

		at.col += (unsigned int)err_off;
		fail_at(ps, &at, "%s", err);
		return;
	}
	if (container && (!(g->principal.k.match & MPKLINK_MATCH_CGROUP) ||
			  !strcmp(g->principal.k.cgroup, "/"))) {
		fail_at(ps, &g->at,
			"a container rule names the cgroup its containers run below (cgroup=/PARENT, not /): it is what keeps other containers from asking");
		return;
	}

	next(ps);
	if (ps->tok.kind != T_WORD ||
	    parse_rights(ps->tok.text, ps->tok.len, &g->rights)) {
		fail_at(ps, &ps->tok.at,
			"expected rights r, w or rw after the principal, found %s",
			describe(&ps->tok, buf, sizeof(buf)));
		return;
	}

	next(ps);
	if (word_is(&ps->tok, "pubkey")) {
		if (!value(ps, "pubkey", "64 hexadecimal digits"))
			return;
		g->pubkey_at = ps->tok.at;
		if (parse_hex(ps->tok.text, ps->tok.len, g->pubkey,
			      MPKLINK_PUBKEY_SIZE)) {
			fail_at(ps, &ps->tok.at,
				"a public key is 64 hexadecimal digits (the .pub file from keygen)");
			return;
		}
		g->has_pubkey = true;
		next(ps);
	} else if (word_is(&ps->tok, "pubkey-file")) {
		char path[4096];

		if (!value(ps, "pubkey-file", "a file name"))
			return;
		g->pubkey_at = ps->tok.at;
		if (unquote(&ps->tok, path, sizeof(path)) || !path[0]) {
			fail_at(ps, &ps->tok.at, "bad file name");
			return;
		}
		g->pubkey_file = strdup(path);
		if (!g->pubkey_file) {
			fail_at(ps, &ps->tok.at, "out of memory");
			return;
		}
		g->has_pubkey = true;
		next(ps);
	}
	end_of_statement(ps, statement);
}

static void parse_size_statement(struct parser *ps, struct policy_channel *ch,
				 struct where *seen)
{
	char err[ERROR_MAX];

	if (seen->line) {
		fail_at(ps, &ps->tok.at, "size given twice (first at line %u)",
			seen->line);
		return;
	}
	*seen = ps->tok.at;
	if (!value(ps, "size", "a size such as 1M"))
		return;
	if (parse_size(ps->tok.text, ps->tok.len, &ch->segment_size, err)) {
		fail_at(ps, &ps->tok.at, "%s", err);
		return;
	}
	next(ps);
	end_of_statement(ps, "size");
}

static void parse_members(struct parser *ps, struct policy_channel *ch,
			  struct where *seen)
{
	unsigned int v = 0;
	size_t i;

	if (seen->line) {
		fail_at(ps, &ps->tok.at, "members given twice (first at line %u)",
			seen->line);
		return;
	}
	*seen = ps->tok.at;
	if (!value(ps, "members", "a number"))
		return;
	for (i = 0; i < ps->tok.len && v <= MPKLINK_MAX_MEMBERS; i++) {
		if (ps->tok.text[i] < '0' || ps->tok.text[i] > '9') {
			v = 0;
			break;
		}
		v = v * 10 + (unsigned int)(ps->tok.text[i] - '0');
	}
	if (v < 1 || v > MPKLINK_MAX_MEMBERS) {
		fail_at(ps, &ps->tok.at, "members must be a number from 1 to %d",
			MPKLINK_MAX_MEMBERS);
		return;
	}
	ch->max_members = v;
	next(ps);
	end_of_statement(ps, "members");
}

static void parse_channel(struct parser *ps, struct policy *pol)
{
	struct where size_at = { 0 }, members_at = { 0 }, signed_at = { 0 };
	struct policy_channel *ch, *channels;
	struct where open_at;
	char buf[64];
	unsigned int i;

	if (!word_is(&ps->tok, "channel")) {
		fail_at(ps, &ps->tok.at, "expected 'channel', found %s",
			describe(&ps->tok, buf, sizeof(buf)));
		return;
	}
	if (!value(ps, "channel", "a channel name"))
		return;
	if (!name_valid(ps->tok.text, ps->tok.len)) {
		fail_at(ps, &ps->tok.at,
			"invalid channel name %s: 1 to 63 characters of A-Z a-z 0-9 . _ -",
			describe(&ps->tok, buf, sizeof(buf)));
		return;
	}
	for (i = 0; i < pol->nr_channels; i++) {
		if (strlen(pol->channels[i].name) == ps->tok.len &&
		    !memcmp(pol->channels[i].name, ps->tok.text, ps->tok.len)) {
			fail_at(ps, &ps->tok.at,
				"channel '%s' is already defined at line %u",
				pol->channels[i].name,
				pol->channels[i].at.line);
			return;
		}
	}
	channels = grow(pol->channels, pol->nr_channels, sizeof(*channels));
	if (!channels) {
		fail_at(ps, &ps->tok.at, "out of memory");
		return;
	}
	pol->channels = channels;
	ch = &channels[pol->nr_channels++];
	memset(ch, 0, sizeof(*ch));
	ch->at = ps->tok.at;
	memcpy(ch->name, ps->tok.text, ps->tok.len);

	next(ps);
	skip_ends(ps);
	if (ps->tok.kind != T_OPEN) {
		fail_at(ps, &ps->tok.at, "expected '{' after 'channel %s', found %s",
			ch->name, describe(&ps->tok, buf, sizeof(buf)));
		return;
	}
	open_at = ps->tok.at;
	next(ps);
	for (;;) {
		skip_ends(ps);
		if (ps->failed)
			return;
		if (ps->tok.kind == T_CLOSE)
			break;
		if (ps->tok.kind == T_EOF) {
			fail_at(ps, &ps->tok.at,
				"expected '}' to close channel '%s' (opened at line %u), found the end of the file",
				ch->name, open_at.line);
			return;
		}
		if (word_is(&ps->tok, "size")) {
			parse_size_statement(ps, ch, &size_at);
		} else if (word_is(&ps->tok, "members")) {
			parse_members(ps, ch, &members_at);
		} else if (word_is(&ps->tok, "signed")) {
			if (signed_at.line) {
				fail_at(ps, &ps->tok.at,
					"signed given twice (first at line %u)",
					signed_at.line);
				return;
			}
			signed_at = ps->tok.at;
			ch->is_signed = true;
			next(ps);
			end_of_statement(ps, "signed");
		} else if (word_is(&ps->tok, "grant")) {
			parse_grant(ps, ch, false);
		} else if (word_is(&ps->tok, "container")) {
			parse_grant(ps, ch, true);
		} else {
			fail_at(ps, &ps->tok.at,
				"expected size, members, signed, grant, container or '}', found %s",
				describe(&ps->tok, buf, sizeof(buf)));
		}
	}
	if (!size_at.line) {
		fail_at(ps, &ch->at,
			"channel '%s' has no size: add 'size SIZE' (each writer's segment, e.g. 1M)",
			ch->name);
		return;
	}
	next(ps);	/* past '}' */
}

int policy_parse(const char *file, const char *text, size_t len,
		 struct policy *out, char *err, size_t err_room)
{
	struct parser ps = {
		.file = file, .p = text, .end = text + len, .line = 1,
		.line_start = text, .err = err, .err_room = err_room,
	};

	memset(out, 0, sizeof(*out));
	if (memchr(text, 0, len)) {
		struct where at = { file, 1, 1 };
		const char *nul = memchr(text, 0, len);
		const char *c;

		for (c = text; c < nul; c++) {
			at.col++;
			if (*c == '\n') {
				at.line++;
				at.col = 1;
			}
		}
		fail_at(&ps, &at, "unexpected NUL byte: not a text file");
		return -1;
	}
	next(&ps);
	for (;;) {
		skip_ends(&ps);
		if (ps.failed || ps.tok.kind == T_EOF)
			break;
		parse_channel(&ps, out);
	}
	if (ps.failed) {
		policy_free(out);
		return -1;
	}
	return 0;
}

static void free_grants(struct policy_grant *grants, unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		free(grants[i].principal_text);
		free(grants[i].pubkey_file);
	}
	free(grants);
}

void policy_free(struct policy *pol)
{
	unsigned int c;

	for (c = 0; c < pol->nr_channels; c++) {
		free_grants(pol->channels[c].grants, pol->channels[c].nr_grants);
		free_grants(pol->channels[c].containers,
			    pol->channels[c].nr_containers);
	}
	free(pol->channels);
	memset(pol, 0, sizeof(*pol));
}
