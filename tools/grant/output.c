// SPDX-License-Identifier: GPL-2.0
/*
 * Small values as text, both ways: sizes, rights, names, hexadecimal keys,
 * and the JSON writer of the read commands.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "grant.h"

/* "4096", "64K", "1M", "1MiB", "2G": a whole number of pages. */
int parse_size(const char *s, size_t len, uint64_t *out, char *err)
{
	unsigned int shift = 0;
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && isdigit((unsigned char)s[i])) {
		if (v > (UINT64_MAX - 9) / 10)
			goto bad;
		v = v * 10 + (uint64_t)(s[i++] - '0');
	}
	if (i == 0)
		goto bad;
	if (i < len) {
		switch (toupper((unsigned char)s[i])) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		default:
			goto bad;
		}
		i++;
		if (len - i == 2 && s[i] == 'i' && toupper((unsigned char)s[i + 1]) == 'B')
			i += 2;
		else if (len - i == 1 && toupper((unsigned char)s[i]) == 'B')
			i++;
		if (i != len)
			goto bad;
	}
	if (v > UINT64_MAX >> shift)
		goto bad;
	v <<= shift;
	if (v == 0 || v % 4096) {
		snprintf(err, ERROR_MAX,
			 "size '%.*s' must be a positive multiple of 4096 bytes (the page size)",
			 (int)(len > 32 ? 32 : len), s);
		return -1;
	}
	*out = v;
	return 0;
bad:
	snprintf(err, ERROR_MAX,
		 "malformed size '%.*s': expected a number of bytes, optionally followed by K, M or G (KiB, MiB, GiB)",
		 (int)(len > 32 ? 32 : len), s);
	return -1;
}

int parse_rights(const char *s, size_t len, uint32_t *out)
{
	if (len == 1 && s[0] == 'r')
		*out = MPKLINK_RIGHT_READ;
	else if (len == 1 && s[0] == 'w')
		*out = MPKLINK_RIGHT_WRITE;
	else if (len == 2 && !strncmp(s, "rw", 2))
		*out = MPKLINK_RIGHTS_ALL;
	else
		return -1;
	return 0;
}

const char *rights_string(uint32_t rights)
{
	switch (rights & MPKLINK_RIGHTS_ALL) {
	case MPKLINK_RIGHT_READ:
		return "r";
	case MPKLINK_RIGHT_WRITE:
		return "w";
	case MPKLINK_RIGHTS_ALL:
		return "rw";
	default:
		return "-";
	}
}

/* As the kernel checks channel names. */
bool name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= MPKLINK_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int parse_hex(const char *s, size_t len, uint8_t *out, size_t out_len)
{
	size_t i;

	if (len != 2 * out_len)
		return -1;
	for (i = 0; i < out_len; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void format_hex(const uint8_t *data, size_t len, char *buf)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		buf[2 * i] = digits[data[i] >> 4];
		buf[2 * i + 1] = digits[data[i] & 15];
	}
	buf[2 * len] = 0;
}

int read_pubkey(const char *arg, uint8_t key[MPKLINK_PUBKEY_SIZE], char *err)
{
	char text[2 * MPKLINK_PUBKEY_SIZE + 2];
	ssize_t n;
	int fd;

	if (!parse_hex(arg, strlen(arg), key, MPKLINK_PUBKEY_SIZE))
		return 0;
	fd = open(arg, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, ERROR_MAX,
			 "public key %s: %s (expected a .pub file from keygen, or 64 hexadecimal digits)",
			 arg, strerror(errno));
		return -1;
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n > 2 * MPKLINK_PUBKEY_SIZE && text[2 * MPKLINK_PUBKEY_SIZE] == '\n')
		n--;
	if (n != 2 * MPKLINK_PUBKEY_SIZE ||
	    parse_hex(text, (size_t)n, key, MPKLINK_PUBKEY_SIZE)) {
		snprintf(err, ERROR_MAX,
			 "public key file %s must hold 64 hexadecimal digits and a newline",
			 arg);
		return -1;
	}
	return 0;
}

/* Exact, in the largest binary unit that divides it. */
void format_size(uint64_t bytes, char *buf, size_t room)
{
	if (bytes && !(bytes % (1ull << 30)))
		snprintf(buf, room, "%" PRIu64 "G", bytes >> 30);
	else if (bytes && !(bytes % (1ull << 20)))
		snprintf(buf, room, "%" PRIu64 "M", bytes >> 20);
	else if (bytes && !(bytes % (1ull << 10)))
		snprintf(buf, room, "%" PRIu64 "K", bytes >> 10);
	else
		snprintf(buf, room, "%" PRIu64, bytes);
}

/* --- JSON ---------------------------------------------------------------- */

static void json_escaped(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* Starts a value: the comma after the previous one, indentation, key. */
static void json_key(struct json_writer *j, const char *key)
{
	if (j->need_comma)
		fputc(',', j->out);
	if (j->depth)
		fprintf(j->out, "\n%*s", 2 * j->depth, "");
	if (key) {
		json_escaped(j->out, key);
		fputs(": ", j->out);
	}
	j->need_comma = true;
}

static void json_open(struct json_writer *j, const char *key, char bracket)
{
	json_key(j, key);
	fputc(bracket, j->out);
	j->depth++;
	j->need_comma = false;
}

static void json_close(struct json_writer *j, char bracket)
{
	bool empty = !j->need_comma;

	j->depth--;
	if (!empty)
		fprintf(j->out, "\n%*s", 2 * j->depth, "");
	fputc(bracket, j->out);
	j->need_comma = true;
	if (!j->depth)
		fputc('\n', j->out);
}

void jw_begin_object(struct json_writer *j, const char *key)
{
	json_open(j, key, '{');
}

void jw_end_object(struct json_writer *j)
{
	json_close(j, '}');
}

void jw_begin_array(struct json_writer *j, const char *key)
{
	json_open(j, key, '[');
}

void jw_end_array(struct json_writer *j)
{
	json_close(j, ']');
}

void jw_string(struct json_writer *j, const char *key, const char *value)
{
	json_key(j, key);
	json_escaped(j->out, value);
}

void jw_uint(struct json_writer *j, const char *key, uint64_t value)
{
	json_key(j, key);
	fprintf(j->out, "%" PRIu64, value);
}

void jw_int(struct json_writer *j, const char *key, int64_t value)
{
	json_key(j, key);
	fprintf(j->out, "%" PRId64, value);
}

void jw_bool(struct json_writer *j, const char *key, bool value)
{
	json_key(j, key);
	fputs(value ? "true" : "false", j->out);
}

void jw_null(struct json_writer *j, const char *key)
{
	json_key(j, key);
	fputs("null", j->out);
}

/* A grant, as list, show and dump print it. */
void jw_grant(struct json_writer *j, const struct mpklink_grant *g)
{
	char text[1024], hex[2 * MPKLINK_PUBKEY_SIZE + 1];

	jw_begin_object(j, NULL);
	principal_format(&g->principal, text, sizeof(text));
	jw_string(j, "principal", text);
	jw_string(j, "rights", rights_string(g->rights));
	if (g->flags & MPKLINK_GRANT_PUBKEY) {
		format_hex(g->pubkey, MPKLINK_PUBKEY_SIZE, hex);
		jw_string(j, "pubkey", hex);
	} else {
		jw_null(j, "pubkey");
	}
	jw_end_object(j);
}
