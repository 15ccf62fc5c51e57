/* Fuzz target: rearview-report's zone-file reader (zonefile.c) and, for what
 * it hands over, the report's record intake and lenient TXT parser: the file
 * may come from anywhere, and names in it are whatever clients looked up. */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "zonefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_rr(void *arg, const rv_zonefile_rr *rr)
{
	if (rr->owner == NULL || rr->type == NULL)
		__builtin_trap();
	rv_report_meta m;
	if (rr->txt != NULL && rv_report_txt_parse((const char *)rr->txt, rr->txt_len, &m, NULL, 0) == 0 &&
	    m.first > m.last)
		__builtin_trap();
	return rv_report_add(arg, rr->owner, rr->type, rr->ptr, rr->txt, rr->txt_len) < 0 ? -ENOMEM
		: 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	int e;
	rv_report *r = rv_report_new("rpz.test", NULL, &e);
	if (r == NULL)
		return 0;
	if (rv_zonefile_parse((const char *)data, size, "rpz.test", on_rr, r, err, sizeof(err)) < 0 &&
	    err[0] == '\0')
		__builtin_trap();
	if (rv_report_finish(r) == 0) {
		FILE *f = fopen("/dev/null", "w");
		rv_report_opts o = {.now = 1700000000, .top = 5, .weak_score = 2};
		if (f != NULL) {
			if (rv_report_write(r, &o, 'j', f) < 0)
				__builtin_trap();  /* only -ENOMEM or -EIO, neither here */
			fclose(f);
		}
	}
	rv_report_free(&r);
	return 0;
}
