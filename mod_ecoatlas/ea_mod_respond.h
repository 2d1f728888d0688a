/* ea_mod_respond.h: JSON responses */
#ifndef EA_MOD_RESPOND_H
#define EA_MOD_RESPOND_H

#include "ea_mod_req.h"

/* ---- responses ----------------------------------------------------------- */
void ea_security_headers(request_rec *r);
int ea_send_json(ea_req *rq, int status, ea_buf *body);
int ea_log_once(server_rec *s, const char *what, uint64_t salt);
int ea_send_raw_json(ea_req *rq, int status, const char *data, size_t len);
int ea_send_detail(ea_req *rq, int status, const char *detail);
/* 400 {"field": ["msg"]}, DRF's error on one field. */
int ea_send_field_error(ea_req *rq, const char *field, const char *msg);
int ea_send_unavailable(ea_req *rq);
int ea_send_server_error(ea_req *rq, const char *what);
int ea_negotiate(ea_req *rq);          /* 0 ok, else 406 already sent */
const char *ea_absolute_url(ea_req *rq, const char *path_below_base);
const char *ea_request_url(ea_req *rq); /* scheme://host/path, no query */

#endif
