#include "mechanism/mechanism.h"

#include <stddef.h>
#include <string.h>

static const pl_mechanism_t *const all[] = {&pl_mechanism_linux, &pl_mechanism_vm, NULL};

int pl_mechanisms_init(const char *tether_path, pl_error_t **err)
{
	if (pl_linux_init(&pl_mechanism_linux, tether_path, err) < 0)
		return -1;
	return pl_vm_init(&pl_mechanism_vm, tether_path, err);
}

const pl_mechanism_t *const *pl_mechanisms_all(void)
{
	return all;
}

const pl_mechanism_t *pl_mechanism_by_name(const char *name)
{
	for (const pl_mechanism_t *const *m = all; *m; m++)
		if (strcmp((*m)->name, name) == 0)
			return *m;
	return NULL;
}

const pl_mechanism_t *pl_mechanism_for(pl_kernel_t kernel, pl_error_t **err)
{
	const char *reason = NULL;
	for (const pl_mechanism_t *const *m = all; *m; m++) {
		if ((*m)->kernel != kernel)
			continue;
		if ((*m)->available(*m, &reason))
			return *m;
	}
	if (kernel == PL_KERNEL_DEDICATED && !reason)
		reason = "the vm mechanism is not available in this build yet";
	pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "no mechanism provides a %s kernel: %s",
		     pl_kernel_name(kernel), reason ? reason : "none available");
	return NULL;
}
