/* ea_mod_body.h: request bodies */
#ifndef EA_MOD_BODY_H
#define EA_MOD_BODY_H

#include "ea_mod_req.h"

/* ---- request bodies (ea_mod_body.c) --------------------------------------------- */
struct json_object;
/* Read the body through the input filters, capped by EcoAtlasMaxBodySize,
 * and parse it by Content-Type (JSON, form-urlencoded, multipart/form-data).
 * 0: *data is a JSON object owned by the request pool (form values are
 * strings; *is_form set); -1: the 400/413/415 response was sent. */
int ea_body_read(ea_req *rq, struct json_object **data, int *is_form);
/* The same with another cap, keeping everything the parser found
 * (uploaded files included). */
struct ea_body;
int ea_body_read_parsed(ea_req *rq, long long cap, struct ea_body *out);
const char *ea_body_set_max(cmd_parms *cmd, void *dconf, const char *arg);

#endif
