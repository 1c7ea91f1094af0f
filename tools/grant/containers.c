// SPDX-License-Identifier: GPL-2.0
/*
 * Container rules: which grant a policy's "container PRINCIPAL RIGHTS"
 * lets a container have.
 *
 * A rule names a parent cgroup; a container whose own cgroup lies below it
 * may ask for at most the rule's rights.  What it gets is the rule's
 * principal with the parent replaced by the container's own cgroup, so
 * the grant admits that container and nothing else, and keeps whatever
 * else the rule requires (a uid, an executable).  The container's
 * annotation or CDI device only chooses among what the rules allow: asking
 * is not enough to get.
 */
#include <string.h>

#include "grant.h"

/*
 * Whether @cgroup lies strictly below @parent: "/a/b" is below "/a", "/ab"
 * is not, nor is "/a" itself.
 */
bool cgroup_below(const char *cgroup, const char *parent)
{
	size_t n = strlen(parent);

	if (!strcmp(parent, "/"))
		return cgroup[0] == '/' && cgroup[1];
	return !strncmp(cgroup, parent, n) && cgroup[n] == '/' &&
	       cgroup[n + 1];
}

void container_principal(const struct policy_grant *rule, const char *cgroup,
			 struct mpklink_principal *out)
{
	*out = rule->principal.k;
	memset(out->cgroup, 0, sizeof(out->cgroup));
	memcpy(out->cgroup, cgroup,
	       strnlen(cgroup, sizeof(out->cgroup) - 1));
}

const struct policy_grant *container_rule(const struct policy_channel *ch,
					  const char *cgroup, uint32_t rights)
{
	unsigned int i;

	if (strlen(cgroup) >= MPKLINK_CGROUP_PATH_MAX)
		return NULL;
	for (i = 0; i < ch->nr_containers; i++) {
		const struct policy_grant *r = &ch->containers[i];

		if (cgroup_below(cgroup, r->principal.k.cgroup) &&
		    (rights & ~r->rights) == 0)
			return r;
	}
	return NULL;
}

bool container_grant_allowed(const struct policy_channel *ch,
			     const struct mpklink_grant *g)
{
	const struct mpklink_principal *p = &g->principal;
	struct mpklink_principal want;
	unsigned int i;

	if (!(p->match & MPKLINK_MATCH_CGROUP))
		return false;
	for (i = 0; i < ch->nr_containers; i++) {
		const struct policy_grant *r = &ch->containers[i];

		if (!cgroup_below(p->cgroup, r->principal.k.cgroup) ||
		    g->rights & ~r->rights)
			continue;
		container_principal(r, p->cgroup, &want);
		if (principal_equal(p, &want))
			return true;
	}
	return false;
}
