// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink-grant's parsers, without the module: policy files (accepted
 * shapes, and every refusal pointing at FILE:LINE:COLUMN with what was
 * expected), principals, sizes and names.
 */
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "grant.h"

static char err[ERROR_MAX + 128];

static int parse(const char *text, struct policy *pol)
{
	return policy_parse("p", text, strlen(text), pol, err, sizeof(err));
}

/* The policy is refused with exactly @expect (FILE:LINE:COL: message). */
#define EXPECT_REFUSED(text, expect)					\
	do {								\
		struct policy __pol;					\
		ASSERT_EQ(-1, parse(text, &__pol));			\
		EXPECT_EQ(0, strncmp(err, expect, strlen(expect)))	\
			TH_LOG("got: %s", err);				\
	} while (0)

static const struct resolve_opts resolve_all = { 0 };

TEST(a_full_policy_parses_into_channels_and_grants)
{
	struct policy pol;

	ASSERT_EQ(0, parse("# comment line\n"
			   "channel orders {\n"
			   "\tsize 1M   # each writer\n"
			   "\tmembers 8\n"
			   "\tgrant user=root,cgroup=/ rw\n"
			   "\tgrant uid=65534 r\n"
			   "}\n"
			   "\n"
			   "channel audit.log_2 { size 4096; signed; grant gid=0 w pubkey "
			   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff }\n",
			   &pol)) TH_LOG("%s", err);
	ASSERT_EQ(2, pol.nr_channels);
	EXPECT_STREQ("orders", pol.channels[0].name);
	EXPECT_EQ(1 << 20, pol.channels[0].segment_size);
	EXPECT_EQ(8, pol.channels[0].max_members);
	EXPECT_FALSE(pol.channels[0].is_signed);
	ASSERT_EQ(2, pol.channels[0].nr_grants);
	EXPECT_EQ(MPKLINK_RIGHTS_ALL, pol.channels[0].grants[0].rights);
	EXPECT_EQ(MPKLINK_RIGHT_READ, pol.channels[0].grants[1].rights);
	EXPECT_EQ(65534, pol.channels[0].grants[1].principal.k.uid);
	EXPECT_EQ(6, pol.channels[0].grants[1].at.line);
	EXPECT_EQ(8, pol.channels[0].grants[1].at.col);
	EXPECT_STREQ("audit.log_2", pol.channels[1].name);
	EXPECT_TRUE(pol.channels[1].is_signed);
	EXPECT_EQ(0, pol.channels[1].max_members);
	ASSERT_EQ(1, pol.channels[1].nr_grants);
	EXPECT_TRUE(pol.channels[1].grants[0].has_pubkey);
	EXPECT_EQ(0xff, pol.channels[1].grants[0].pubkey[31]);
	policy_free(&pol);
}

TEST(an_empty_policy_or_only_comments_has_no_channels)
{
	struct policy pol;

	ASSERT_EQ(0, parse("", &pol));
	EXPECT_EQ(0, pol.nr_channels);
	ASSERT_EQ(0, parse("# nothing\n\n   # at all\n", &pol));
	EXPECT_EQ(0, pol.nr_channels);
}

TEST(quoted_values_keep_spaces_commas_and_hashes)
{
	struct policy pol;

	ASSERT_EQ(0, parse("channel c {\n size 4K\n"
			   " grant cgroup=\"/a b,c#d\" r\n"
			   " grant cgroup=\"/x \\\"y\\\"\",uid=3 r\n}\n", &pol))
		TH_LOG("%s", err);
	ASSERT_EQ(2, pol.channels[0].nr_grants);
	EXPECT_STREQ("/a b,c#d", pol.channels[0].grants[0].principal.k.cgroup);
	EXPECT_STREQ("/x \"y\"", pol.channels[0].grants[1].principal.k.cgroup);
	EXPECT_EQ(3, pol.channels[0].grants[1].principal.k.uid);
	policy_free(&pol);
}

TEST(a_quoted_cgroup_value_keeps_its_comma)
{
	struct principal p;
	size_t off;

	ASSERT_EQ(0, principal_parse("cgroup=\"/a,b\",uid=1", 19, &p, NULL, err,
				     &off)) TH_LOG("%s", err);
	EXPECT_STREQ("/a,b", p.k.cgroup);
	EXPECT_EQ(MPKLINK_MATCH_CGROUP | MPKLINK_MATCH_UID, p.k.match);
	EXPECT_EQ(1, p.k.uid);
}

TEST(missing_size_is_reported_at_the_channel_name)
{
	EXPECT_REFUSED("channel orders {\n grant uid=1 r\n}\n",
		       "p:1:9: channel 'orders' has no size");
}

TEST(unknown_statement_says_what_was_expected)
{
	EXPECT_REFUSED("channel c {\n  sise 1M\n}\n",
		       "p:2:3: expected size, members, signed, grant, container or '}', found 'sise'");
}

TEST(misspelled_channel_keyword_is_reported)
{
	EXPECT_REFUSED("chanel c {\n}\n", "p:1:1: expected 'channel', found 'chanel'");
}

TEST(unclosed_channel_is_reported_at_the_end_with_where_it_opened)
{
	EXPECT_REFUSED("channel c {\n size 1M\n",
		       "p:3:1: expected '}' to close channel 'c' (opened at line 1)");
}

TEST(invalid_channel_name_is_reported)
{
	EXPECT_REFUSED("channel a/b {\n}\n", "p:1:9: invalid channel name 'a/b'");
}

TEST(duplicate_channel_names_point_at_the_first)
{
	EXPECT_REFUSED("channel c { size 4K }\nchannel c { size 4K }\n",
		       "p:2:9: channel 'c' is already defined at line 1");
}

TEST(malformed_size_is_reported_at_the_value)
{
	EXPECT_REFUSED("channel c {\n size 1Q\n}\n", "p:2:7: malformed size '1Q'");
}

TEST(size_not_a_page_multiple_is_reported)
{
	EXPECT_REFUSED("channel c {\n size 1000\n}\n",
		       "p:2:7: size '1000' must be a positive multiple of 4096");
}

TEST(size_given_twice_points_at_the_first)
{
	EXPECT_REFUSED("channel c {\n size 4K\n size 8K\n}\n",
		       "p:3:2: size given twice (first at line 2)");
}

TEST(members_out_of_range_is_reported)
{
	EXPECT_REFUSED("channel c { size 4K; members 65 }",
		       "p:1:30: members must be a number from 1 to 64");
	EXPECT_REFUSED("channel c { size 4K; members 0 }",
		       "p:1:30: members must be a number from 1 to 64");
}

TEST(bad_rights_are_reported_at_the_rights)
{
	EXPECT_REFUSED("channel c {\n size 4K\n grant uid=1 rx\n}\n",
		       "p:3:14: expected rights r, w or rw after the principal, found 'rx'");
}

TEST(missing_rights_are_reported_at_the_end_of_the_line)
{
	EXPECT_REFUSED("channel c {\n size 4K\n grant uid=1\n}\n",
		       "p:3:13: expected rights r, w or rw after the principal, found the end of the line");
}

TEST(unknown_principal_key_is_reported_at_the_key)
{
	EXPECT_REFUSED("channel c {\n size 4K\n grant uid=1,usr=x r\n}\n",
		       "p:3:14: unknown principal key 'usr'");
}

TEST(principal_value_errors_point_at_the_value)
{
	EXPECT_REFUSED("channel c { size 4K\n grant uid=12x r }",
		       "p:2:12: uid must be a number");
	EXPECT_REFUSED("channel c { size 4K\n grant sha256=abc r }",
		       "p:2:15: sha256 must be 64 hexadecimal digits");
	EXPECT_REFUSED("channel c { size 4K\n grant cgroup=/a/../b r }",
		       "p:2:15: cgroup must be an absolute path");
	EXPECT_REFUSED("channel c { size 4K\n grant exe=bin/x r }",
		       "p:2:12: exe must be an absolute path");
}

TEST(a_key_given_twice_in_a_principal_is_reported)
{
	EXPECT_REFUSED("channel c { size 4K\n grant uid=1,uid=2 r }",
		       "p:2:14: uid given twice");
}

TEST(unterminated_quote_is_reported_at_the_quote)
{
	EXPECT_REFUSED("channel c { size 4K\n grant cgroup=\"/a r }\n",
		       "p:2:15: unterminated quoted string");
}

TEST(trailing_words_after_a_statement_are_reported)
{
	EXPECT_REFUSED("channel c {\n size 4K 8K\n}\n",
		       "p:2:10: expected the end of the size statement, found '8K'");
}

TEST(bad_public_key_is_reported)
{
	EXPECT_REFUSED("channel c { size 4K\n grant uid=1 w pubkey 1234 }",
		       "p:2:23: a public key is 64 hexadecimal digits");
}

TEST(nul_byte_is_refused_as_not_text)
{
	struct policy pol;

	ASSERT_EQ(-1, policy_parse("p", "channel c\0{", 11, &pol, err,
				   sizeof(err)));
	EXPECT_EQ(0, strncmp(err, "p:1:10: unexpected NUL byte", 27))
		TH_LOG("%s", err);
}

TEST(resolving_unknown_user_points_at_the_name)
{
	struct policy pol;

	ASSERT_EQ(0, parse("channel c {\n size 4K\n grant user=no-such-user-here r\n}\n",
			   &pol));
	ASSERT_EQ(-1, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	EXPECT_STREQ("p:3:13: unknown user 'no-such-user-here'", err);
	policy_free(&pol);
}

TEST(resolving_a_missing_executable_is_refused)
{
	struct policy pol;

	ASSERT_EQ(0, parse("channel c { size 4K\n grant exe=/no/such/exe r }", &pol));
	ASSERT_EQ(-1, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	EXPECT_EQ(0, strncmp(err, "p:2:12: executable /no/such/exe: No such file", 45))
		TH_LOG("%s", err);
	policy_free(&pol);
}

TEST(resolving_a_script_is_refused_as_matching_nothing)
{
	char path[] = "/tmp/policy_test.XXXXXX";
	char text[256];
	struct policy pol;
	int fd = mkstemp(path);

	ASSERT_LE(0, fd);
	ASSERT_EQ(10, write(fd, "#!/bin/sh\n", 10));
	fchmod(fd, 0755);
	close(fd);
	snprintf(text, sizeof(text), "channel c { size 4K\n grant exe=%s r }", path);
	ASSERT_EQ(0, parse(text, &pol));
	EXPECT_EQ(-1, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "is a script")) TH_LOG("%s", err);
	policy_free(&pol);
	unlink(path);
}

TEST(resolving_an_executable_gives_its_sha256)
{
	static const char data[] = "not really a program";
	uint8_t digest[MPKLINK_SHA256_SIZE], want[MPKLINK_SHA256_SIZE];
	char path[] = "/tmp/policy_test.XXXXXX";
	char cmd[128], out[80] = "";
	FILE *p;
	int fd = mkstemp(path);

	ASSERT_LE(0, fd);
	ASSERT_EQ(sizeof(data) - 1, write(fd, data, sizeof(data) - 1));
	close(fd);
	ASSERT_EQ(0, file_sha256(path, digest));
	/* The kernel computes plain SHA-256 of the contents: sha256sum's. */
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, fgets(out, sizeof(out), p));
	pclose(p);
	ASSERT_EQ(0, parse_hex(out, 64, want, sizeof(want)));
	EXPECT_EQ(0, memcmp(digest, want, sizeof(want)));
	unlink(path);
}

TEST(resolving_a_missing_cgroup_is_refused_unless_allowed)
{
	struct resolve_opts allow = { .allow_missing_cgroup = true };
	struct policy pol;

	ASSERT_EQ(0, parse("channel c { size 4K\n grant cgroup=/no/such/cgroup r }",
			   &pol));
	EXPECT_EQ(-1, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "matches nothing")) TH_LOG("%s", err);
	EXPECT_EQ(0, policy_resolve(&pol, &allow, err, sizeof(err)));
	policy_free(&pol);
}

TEST(user_and_uid_that_disagree_match_nothing)
{
	struct policy pol;

	ASSERT_EQ(0, parse("channel c { size 4K\n grant user=root,uid=7 r }", &pol));
	EXPECT_EQ(-1, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	EXPECT_STREQ("p:2:13: user root has uid 0, not 7: the principal matches nothing",
		     err);
	policy_free(&pol);
}

TEST(two_grants_for_one_principal_are_refused)
{
	struct policy pol;

	ASSERT_EQ(0, parse("channel c { size 4K\n grant uid=0 r\n grant user=root w }",
			   &pol));
	EXPECT_EQ(-1, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	EXPECT_EQ(0, strncmp(err, "p:3:8: the same principal as the grant at line 2", 48))
		TH_LOG("%s", err);
	policy_free(&pol);
}

TEST(signed_channel_writer_without_a_key_is_refused)
{
	struct policy pol;

	ASSERT_EQ(0, parse("channel c { size 4K; signed\n grant uid=0 rw }", &pol));
	EXPECT_EQ(-1, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "p:2:8: channel 'c' is signed")) TH_LOG("%s", err);
	policy_free(&pol);
}

TEST(sizes_take_binary_suffixes)
{
	uint64_t v;

	ASSERT_EQ(0, parse_size("4096", 4, &v, err));
	EXPECT_EQ(4096, v);
	ASSERT_EQ(0, parse_size("64K", 3, &v, err));
	EXPECT_EQ(65536, v);
	ASSERT_EQ(0, parse_size("1MiB", 4, &v, err));
	EXPECT_EQ(1 << 20, v);
	ASSERT_EQ(0, parse_size("2g", 2, &v, err));
	EXPECT_EQ(2ull << 30, v);
	EXPECT_EQ(-1, parse_size("", 0, &v, err));
	EXPECT_EQ(-1, parse_size("M", 1, &v, err));
	EXPECT_EQ(-1, parse_size("1MB2", 4, &v, err));
	EXPECT_EQ(-1, parse_size("99999999999999999999", 20, &v, err));
	EXPECT_EQ(-1, parse_size("17179869184G", 12, &v, err));
}

TEST(principal_format_reads_back_as_the_same_principal)
{
	struct principal p, q;
	char text[1024];
	size_t off;

	ASSERT_EQ(0, principal_parse("uid=0,gid=4242,cgroup=\"/a b,c\"", 30, &p,
				     NULL, err, &off)) TH_LOG("%s", err);
	memset(p.k.exe_sha256, 0xab, sizeof(p.k.exe_sha256));
	p.k.match |= MPKLINK_MATCH_EXE;
	principal_format(&p.k, text, sizeof(text));
	ASSERT_EQ(0, principal_parse(text, strlen(text), &q, &(struct resolve_opts){
		.allow_missing_cgroup = true }, err, &off)) TH_LOG("%s: %s", text, err);
	EXPECT_TRUE(principal_equal(&p.k, &q.k)) TH_LOG("%s", text);
}

TEST(channel_names_follow_the_kernel)
{
	EXPECT_TRUE(name_valid("a", 1));
	EXPECT_TRUE(name_valid("A-z.0_9", 7));
	EXPECT_FALSE(name_valid("", 0));
	EXPECT_FALSE(name_valid("a b", 3));
	EXPECT_FALSE(name_valid("a/b", 3));
	EXPECT_FALSE(name_valid("0123456789012345678901234567890123456789012345678901234567890123",
				64));
	EXPECT_TRUE(name_valid("012345678901234567890123456789012345678901234567890123456789012",
			       63));
}

/* --- container rules ------------------------------------------------------- */

static const char container_policy[] =
	"channel orders {\n"
	"\tsize 64K\n"
	"\tcontainer cgroup=/shop.slice rw\n"
	"\tcontainer cgroup=/batch,uid=1000 r\n"
	"}\n";

TEST(container_rules_parse_apart_from_grants)
{
	struct policy pol;

	ASSERT_EQ(0, parse(container_policy, &pol)) TH_LOG("%s", err);
	ASSERT_EQ(0, policy_resolve(&pol, &resolve_all, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(0, pol.channels[0].nr_grants);
	ASSERT_EQ(2, pol.channels[0].nr_containers);
	EXPECT_STREQ("/shop.slice", pol.channels[0].containers[0].principal.k.cgroup);
	EXPECT_EQ(MPKLINK_RIGHTS_ALL, pol.channels[0].containers[0].rights);
	EXPECT_EQ(1000, pol.channels[0].containers[1].principal.k.uid);
	policy_free(&pol);
}

TEST(a_container_rule_needs_a_parent_cgroup)
{
	EXPECT_REFUSED("channel a {\n size 4K\n container uid=0 rw\n}\n",
		       "p:3:12: a container rule names the cgroup");
	EXPECT_REFUSED("channel a {\n size 4K\n container cgroup=/ rw\n}\n",
		       "p:3:12: a container rule names the cgroup");
}

TEST(cgroup_below_means_strictly_below_on_a_path_boundary)
{
	EXPECT_TRUE(cgroup_below("/a/b", "/a"));
	EXPECT_TRUE(cgroup_below("/a/b/c", "/a"));
	EXPECT_FALSE(cgroup_below("/a", "/a"));
	EXPECT_FALSE(cgroup_below("/ab", "/a"));
	EXPECT_FALSE(cgroup_below("/a/", "/a"));
	EXPECT_TRUE(cgroup_below("/a", "/"));
	EXPECT_FALSE(cgroup_below("/", "/"));
}

TEST(a_container_gets_at_most_its_rule_and_only_its_own_cgroup)
{
	const struct policy_grant *rule;
	struct mpklink_principal p;
	struct policy pol;

	ASSERT_EQ(0, parse(container_policy, &pol));
	ASSERT_EQ(0, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	rule = container_rule(&pol.channels[0], "/shop.slice/ctr-1", MPKLINK_RIGHTS_ALL);
	ASSERT_NE(NULL, rule);
	container_principal(rule, "/shop.slice/ctr-1", &p);
	EXPECT_EQ(MPKLINK_MATCH_CGROUP, p.match);
	EXPECT_STREQ("/shop.slice/ctr-1", p.cgroup);
	/* The second rule: read only, and its uid stays in the grant. */
	EXPECT_EQ(NULL, container_rule(&pol.channels[0], "/batch/job",
				       MPKLINK_RIGHT_WRITE));
	rule = container_rule(&pol.channels[0], "/batch/job", 0);
	ASSERT_NE(NULL, rule);
	EXPECT_EQ(MPKLINK_RIGHT_READ, rule->rights);
	container_principal(rule, "/batch/job", &p);
	EXPECT_EQ(MPKLINK_MATCH_CGROUP | MPKLINK_MATCH_UID, p.match);
	EXPECT_EQ(1000, p.uid);
	EXPECT_EQ(NULL, container_rule(&pol.channels[0], "/shop.slice", 0));
	EXPECT_EQ(NULL, container_rule(&pol.channels[0], "/shop.slicer/x", 0));
	policy_free(&pol);
}

TEST(apply_keeps_a_container_grant_only_while_a_rule_allows_it)
{
	struct mpklink_grant g = { .rights = MPKLINK_RIGHTS_ALL };
	struct policy pol;

	ASSERT_EQ(0, parse(container_policy, &pol));
	ASSERT_EQ(0, policy_resolve(&pol, &resolve_all, err, sizeof(err)));
	g.principal.match = MPKLINK_MATCH_CGROUP;
	strcpy(g.principal.cgroup, "/shop.slice/ctr-1");
	EXPECT_TRUE(container_grant_allowed(&pol.channels[0], &g));
	strcpy(g.principal.cgroup, "/batch/job");
	EXPECT_FALSE(container_grant_allowed(&pol.channels[0], &g));
	g.rights = MPKLINK_RIGHT_READ;
	EXPECT_FALSE(container_grant_allowed(&pol.channels[0], &g))
		TH_LOG("the rule's uid is missing from the grant");
	g.principal.match |= MPKLINK_MATCH_UID;
	g.principal.uid = 1000;
	EXPECT_TRUE(container_grant_allowed(&pol.channels[0], &g));
	g.principal.match = MPKLINK_MATCH_UID;
	EXPECT_FALSE(container_grant_allowed(&pol.channels[0], &g));
	policy_free(&pol);
}

TEST_HARNESS_MAIN
