/* ea_validate: the DRF serializers' input validation for the six model
 * resources (docs/decisions.md §2.6): field parsing and validators, unique and
 * unique-together checks, HydroSite.validate() and validate_year, in DRF's
 * order, with DRF's messages.  Pure: the database is asked through hooks. */
#ifndef EA_VALIDATE_H
#define EA_VALIDATE_H

#include "ea_buf.h"
#include "ea_sql_list.h"

#include <apr_pools.h>

struct json_object;

typedef enum { EA_V_CHAR, EA_V_CHOICE, EA_V_INT, EA_V_DEC, EA_V_JSON, EA_V_FK } ea_vkind;

#define EA_VF_REQUIRED 1u   /* required on create and full update */
#define EA_VF_NULL     2u   /* null allowed */
#define EA_VF_BLANK    4u   /* "" allowed (character fields) */
#define EA_VF_UNIQUE   8u   /* unique column: UniqueValidator */
#define EA_VF_DEFNULL  16u  /* nullable member of a unique set: DRF defaults it to None */

typedef struct ea_vfield {
    const char *key;           /* JSON key */
    const char *column;        /* SQL column */
    ea_vkind kind;
    unsigned flags;
    int max_length;            /* EA_V_CHAR: 0 = none (TextField) */
    const char *const *choices;/* EA_V_CHOICE */
    long long min, max;        /* EA_V_INT */
    int digits, places, min0;  /* EA_V_DEC: max_digits, decimal_places, min_value=0 */
    const char *fk_table;      /* EA_V_FK */
    const char *create_default;/* SQL text written on create when absent; NULL: NULL */
} ea_vfield;

typedef struct ea_vresource {
    const char *table;
    const char *verbose;       /* model verbose name: "energy dataset" */
    const ea_vfield *fields;   /* writable fields in serializer order */
    int nfields;
    const char *const *together;  /* keys of the unique set (NULL-terminated) or NULL */
    const char *together_constraint;  /* its constraint name in the schema */
    int site_checks;           /* HydroSiteSerializer.validate() */
    int year_check;            /* ResourceMetricSerializer.validate_year */
} ea_vresource;

/* Indexed by ea_res_id. */
extern const ea_vresource ea_vresources[];

typedef enum { EA_V_CREATE, EA_V_UPDATE, EA_V_PARTIAL } ea_vmode;

typedef struct ea_vhooks {
    void *ctx;
    /* 1 when table has a row with this id (decimal text), 0 not, -1 error. */
    int (*fk_exists)(void *ctx, const char *table, const char *id);
    /* 1 when a row of table other than exclude_id (NULL: none) has
     * cols[i] = vals[i] for all i < n; 0 not; -1 error. */
    int (*row_exists)(void *ctx, const char *table, int n, const char *const *cols,
                      const char *const *vals, const char *exclude_id);
} ea_vhooks;

typedef struct ea_vresult {
    int n;                     /* columns to write */
    const char **cols;
    const char **vals;         /* SQL text, NULL for NULL */
    ea_buf errors;             /* the 400 body when invalid */
} ea_vresult;

/* Validate data (a parsed body; NULL is JSON null) for mode.  For
 * updates, current[i] is the instance's value of fields[i] as PostgreSQL
 * prints it (NULL for NULL) and instance_id its id.  Returns 0 (out->cols
 * and vals hold what to write; on create every column), 1 (out->errors
 * holds DRF's 400 body) or -1 (a hook failed). */
int ea_validate(apr_pool_t *p, const ea_vresource *vr, ea_vmode mode,
                struct json_object *data, int is_form,
                const char *const *current, const char *instance_id,
                const ea_vhooks *h, ea_vresult *out);

/* The 400 body for a unique violation raised by the database (a write that
 * raced another): constraint is PostgreSQL's constraint name.  NULL when
 * it names no unique rule of vr. */
const char *ea_validate_unique_body(apr_pool_t *p, const ea_vresource *vr,
                                    const char *constraint);

/* The 400 body for a foreign-key violation on constraint (a referenced row
 * deleted meanwhile), given the values written; NULL when unknown. */
const char *ea_validate_fk_body(apr_pool_t *p, const ea_vresource *vr, const char *constraint,
                                const ea_vresult *written);

#endif
