/*
 * bpmn_read.h - the import's state, shared by the reader of the process
 * (bpmn_import.c) and the mapping of elements drawn elsewhere
 * (bpmn_foreign.c).
 */
#ifndef AH_BPMN_BPMN_READ_H
#define AH_BPMN_BPMN_READ_H

#include <jansson.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

/* A flow node of the process. */
typedef struct inode {
    xmlNodePtr x;
    char *id;         /* its element id (xmlFree) */
    const char *type; /* its element's local name: "userTask" */
    char step[68];    /* the step id it becomes; "" for a start event */
    json_t *json;     /* the step, once mapped */
    bool ours;        /* it carried its ah:step */
    bool bad;         /* named in the problems already */
    size_t nout;      /* outgoing flows */
} inode;

/* A sequence flow. */
typedef struct iflow {
    xmlNodePtr x;
    char *id, *name, *field, *cond; /* xmlFree; cond NULL: unconditional */
    long src, dst;                  /* node indices, -1: none */
} iflow;

typedef struct bpmn_reader {
    inode *nodes;
    size_t n, cap;
    iflow *flows;
    size_t nf, fcap;
    json_t *problems; /* borrowed */
    json_t *ids;      /* step ids taken */
    bool oom;
} bpmn_reader;

/* Name an element as one that cannot be mapped ("element", "type",
 * "message"); the node, when given, is marked bad. */
void bpmn_problem(bpmn_reader *r, xmlNodePtr x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A BPMN-namespace child element of x named local, or NULL. */
xmlNodePtr bpmn_child(xmlNodePtr x, const char *local);

/* Map node i, drawn elsewhere, to a step (r->nodes[i].json), or name it
 * in the problems. */
void bpmn_map_foreign(bpmn_reader *r, size_t i);

/* A step id made of an element id: lower case, [a-z0-9_], unique. */
void bpmn_step_id(bpmn_reader *r, const char *element_id, char *out, size_t len);

#endif
