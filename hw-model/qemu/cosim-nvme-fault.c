/*
 * cosim-nvme: QMP control of the fault engine (cosim-nvme-fault-add, -list,
 * -remove, -clear; schema in cosim-nvme.json), the faults= start-up rules
 * and the stats QOM property.  Rules themselves live in ../core/fault.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qnum.h"
#include "qapi/qmp/qstring.h"
#include "qapi/qapi-commands-cosim-nvme.h"
#include "qapi/qapi-events-cosim-nvme.h"
#include "qapi/qapi-visit-cosim-nvme.h"
#include "qemu/cutils.h"
#include "hw/qdev-core.h"
#include "cosim-nvme.h"

static CosimNvmeState *cosim_nvme_find(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_at(
        container_get(qdev_get_machine(), "/peripheral"), id);
    CosimNvmeState *s;

    if (!obj) {
        obj = object_resolve_path(id, NULL);
    }
    s = obj ? (CosimNvmeState *)object_dynamic_cast(obj, TYPE_COSIM_NVME)
            : NULL;
    if (!s) {
        error_setg(errp, "'id' '%s' is not a cosim-nvme controller", id);
        return NULL;
    }
    if (!s->ctrl) {
        error_setg(errp, "'id' '%s': controller not realized", id);
        return NULL;
    }
    return s;
}

/* "admin", "io", "any", a decimal qid, or an integer */
static bool cosim_nvme_fault_queue(QObject *q, int64_t *out, Error **errp)
{
    QString *str = qobject_to(QString, q);
    QNum *num = qobject_to(QNum, q);
    const char *name;
    int64_t qid;

    if (num) {
        if (!qnum_get_try_int(num, &qid) || qid < 0) {
            g_autofree char *text = qnum_to_string(num);

            error_setg(errp, "fault rule: 'queue' %s out of range", text);
            return false;
        }
        *out = qid;
        return true;
    }
    if (!str) {
        error_setg(errp, "fault rule: 'queue' must be admin, io, any or a "
                   "queue id");
        return false;
    }
    name = qstring_get_str(str);
    if (!strcmp(name, "admin")) {
        *out = NVME_FAULT_QUEUE_ADMIN;
    } else if (!strcmp(name, "io")) {
        *out = NVME_FAULT_QUEUE_IO;
    } else if (!strcmp(name, "any")) {
        *out = NVME_FAULT_QUEUE_ANY;
    } else if (!qemu_strtoi64(name, NULL, 10, &qid) && qid >= 0) {
        *out = qid;
    } else {
        error_setg(errp, "fault rule: 'queue' must be admin, io, any or a "
                   "queue id, not '%s'", name);
        return false;
    }
    return true;
}

#define OPT(p, field) ((p)->has_##field ? (p)->field : NVME_FAULT_UNSET)

/* QAPI parameters -> core spec; errors name the field. */
static bool cosim_nvme_fault_spec(CosimNvmeFaultParams *p,
                                  struct nvme_fault_spec *s, Error **errp)
{
    int action = nvme_fault_action_parse(p->action);

    nvme_fault_spec_init(s);
    if (action < 0) {
        error_setg(errp, "fault rule: 'action' must be one of %s, not '%s'",
                   nvme_fault_action_list(), p->action);
        return false;
    }
    s->action = action;
    if (p->has_queue && !cosim_nvme_fault_queue(p->queue, &s->queue, errp)) {
        return false;
    }
    s->opcode = OPT(p, opcode);
    s->nsid = OPT(p, nsid);
    s->lba_start = OPT(p, lba_start);
    s->lba_end = OPT(p, lba_end);
    s->nth = OPT(p, nth);
    s->every = OPT(p, every);
    s->count = OPT(p, count);
    s->has_probability = p->has_probability;
    s->probability = p->probability;
    s->has_seed = p->has_seed;
    s->seed = (uint64_t)p->seed;
    s->delay_us = OPT(p, delay_us);
    s->sct = OPT(p, sct);
    s->sc = OPT(p, sc);
    s->dnr = p->has_dnr && p->dnr;
    s->more = p->has_more && p->more;
    s->execute = p->has_execute && p->execute;
    s->ms = OPT(p, ms);
    s->cq = OPT(p, cq);
    s->offset = OPT(p, offset);
    s->width = OPT(p, width);
    s->value = OPT(p, value);
    return true;
}

static uint32_t cosim_nvme_fault_add_params(CosimNvmeState *s,
                                            CosimNvmeFaultParams *p,
                                            Error **errp)
{
    struct nvme_fault_spec spec;
    char err[NVME_FAULT_ERR_LEN];
    uint32_t id;

    if (!cosim_nvme_fault_spec(p, &spec, errp)) {
        return 0;
    }
    id = nvme_ctrl_fault_add(s->ctrl, &spec, err);
    if (!id) {
        error_setg(errp, "%s", err);
    }
    return id;
}

CosimNvmeFaultRuleId *qmp_cosim_nvme_fault_add(CosimNvmeFaultAddArgs *arg,
                                               Error **errp)
{
    CosimNvmeState *s = cosim_nvme_find(arg->id, errp);
    CosimNvmeFaultRuleId *ret;
    uint32_t id;

    if (!s) {
        return NULL;
    }
    id = cosim_nvme_fault_add_params(s, qapi_CosimNvmeFaultAddArgs_base(arg),
                                     errp);
    if (!id) {
        return NULL;
    }
    ret = g_new0(CosimNvmeFaultRuleId, 1);
    ret->rule = id;
    return ret;
}

#define SET(r, field, v) do {                   \
        if ((v) != NVME_FAULT_UNSET) {          \
            (r)->has_##field = true;            \
            (r)->field = (v);                   \
        }                                       \
    } while (0)

static CosimNvmeFaultRule *cosim_nvme_fault_info(const struct nvme_fault_info *i)
{
    const struct nvme_fault_spec *sp = &i->spec;
    CosimNvmeFaultRule *r = g_new0(CosimNvmeFaultRule, 1);

    r->rule = i->id;
    r->matches = i->matches;
    r->hits = i->hits;
    r->active = i->active;
    r->action = g_strdup(nvme_fault_action_name(sp->action));
    if (sp->queue != NVME_FAULT_UNSET) {
        r->has_queue = true;
        if (sp->queue >= 0) {
            r->queue = QOBJECT(qnum_from_int(sp->queue));
        } else {
            r->queue = QOBJECT(qstring_from_str(
                sp->queue == NVME_FAULT_QUEUE_ADMIN ? "admin" :
                sp->queue == NVME_FAULT_QUEUE_IO ? "io" : "any"));
        }
    }
    SET(r, opcode, sp->opcode);
    SET(r, nsid, sp->nsid);
    SET(r, lba_start, sp->lba_start);
    SET(r, lba_end, sp->lba_end);
    SET(r, nth, sp->nth);
    SET(r, every, sp->every);
    r->has_count = true;
    r->count = sp->count == NVME_FAULT_UNSET ? 1 : sp->count;
    r->has_probability = sp->has_probability;
    r->probability = sp->probability;
    r->has_seed = sp->has_seed;
    r->seed = (int64_t)sp->seed;
    SET(r, delay_us, sp->delay_us);
    if (sp->action == NVME_FAULT_STATUS) {
        r->has_sct = r->has_sc = r->has_dnr = r->has_more = r->has_execute = true;
        r->execute = sp->execute;
        r->sct = sp->sct == NVME_FAULT_UNSET ? 0 : sp->sct;
        r->sc = sp->sc;
        r->dnr = sp->dnr;
        r->more = sp->more;
    }
    SET(r, ms, sp->ms);
    SET(r, cq, sp->cq);
    SET(r, offset, sp->offset);
    SET(r, value, sp->value);
    if (sp->action == NVME_FAULT_PATCH_DATA) {
        r->has_width = true;
        r->width = sp->width == NVME_FAULT_UNSET ? 1 : sp->width;
    }
    return r;
}

CosimNvmeFaultRuleList *qmp_cosim_nvme_fault_list(const char *id, Error **errp)
{
    CosimNvmeState *s = cosim_nvme_find(id, errp);
    g_autofree struct nvme_fault_info *info = NULL;
    CosimNvmeFaultRuleList *list = NULL, **tail = &list;
    unsigned int n, i;

    if (!s) {
        return NULL;
    }
    info = g_new(struct nvme_fault_info, NVME_FAULT_MAX_RULES);
    n = nvme_ctrl_fault_list(s->ctrl, info, NVME_FAULT_MAX_RULES);
    for (i = 0; i < n && i < NVME_FAULT_MAX_RULES; i++) {
        QAPI_LIST_APPEND(tail, cosim_nvme_fault_info(&info[i]));
    }
    return list;
}

void qmp_cosim_nvme_fault_remove(const char *id, int64_t rule, Error **errp)
{
    CosimNvmeState *s = cosim_nvme_find(id, errp);

    if (!s) {
        return;
    }
    if (rule < 1 || rule > UINT32_MAX ||
        !nvme_ctrl_fault_remove(s->ctrl, (uint32_t)rule)) {
        error_setg(errp, "'rule' %" PRId64 " does not exist", rule);
    }
}

void qmp_cosim_nvme_fault_clear(const char *id, Error **errp)
{
    CosimNvmeState *s = cosim_nvme_find(id, errp);

    if (s) {
        nvme_ctrl_fault_clear(s->ctrl);
    }
}

CosimNvmePowerLoss *qmp_cosim_nvme_power_loss(const char *id, Error **errp)
{
    CosimNvmeState *s = cosim_nvme_find(id, errp);
    CosimNvmePowerLoss *ret;
    int64_t lost;

    if (!s) {
        return NULL;
    }
    lost = cosim_nvme_power_loss(s, errp);
    if (lost < 0) {
        return NULL;
    }
    ret = g_new0(CosimNvmePowerLoss, 1);
    ret->sectors_lost = lost;
    return ret;
}

CosimNvmeLedger *qmp_cosim_nvme_ledger_save(const char *id, const char *path,
                                            Error **errp)
{
    CosimNvmeState *s = cosim_nvme_find(id, errp);
    CosimNvmeLedger *ret;
    int64_t n;

    if (!s) {
        return NULL;
    }
    n = cosim_nvme_ns_ledger_save(s, path, errp);
    if (n < 0) {
        return NULL;
    }
    ret = g_new0(CosimNvmeLedger, 1);
    ret->lbas = n;
    return ret;
}

void qmp_cosim_nvme_ledger_clear(const char *id, Error **errp)
{
    CosimNvmeState *s = cosim_nvme_find(id, errp);

    if (s) {
        nvme_ctrl_ledger_clear(s->ctrl);
    }
}

/* COSIM_NVME_FAULT: a rule fired (the core's trace_fault hook) */
void cosim_nvme_fault_event(CosimNvmeState *s, uint32_t rule, const char *action,
                            uint16_t qid, uint16_t cid)
{
    DeviceState *dev = DEVICE(s);
    g_autofree char *path = object_get_canonical_path(OBJECT(s));

    qapi_event_send_cosim_nvme_fault(!!dev->id, dev->id, path, rule, action, qid, cid);
}

/* faults=<file>: a JSON list of rules (the fault-add arguments without id) */
bool cosim_nvme_load_faults(CosimNvmeState *s, const char *path, Error **errp)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    QObject *obj;
    QList *list;
    QListEntry *e;
    Error *err = NULL;
    unsigned int n = 0;
    bool ok = true;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        error_setg(errp, "cosim-nvme: faults: %s", gerr->message);
        return false;
    }
    obj = qobject_from_json(text, &err);
    if (!obj) {
        error_propagate_prepend(errp, err, "cosim-nvme: faults: %s: ", path);
        return false;
    }
    list = qobject_to(QList, obj);
    if (!list) {
        error_setg(errp, "cosim-nvme: faults: %s: not a JSON list of rules",
                   path);
        qobject_unref(obj);
        return false;
    }
    QLIST_FOREACH_ENTRY(list, e) {
        CosimNvmeFaultParams *p = NULL;
        Visitor *v = qobject_input_visitor_new(qlist_entry_obj(e));

        n++;
        visit_type_CosimNvmeFaultParams(v, NULL, &p, &err);
        visit_free(v);
        if (!err) {
            cosim_nvme_fault_add_params(s, p, &err);
        }
        qapi_free_CosimNvmeFaultParams(p);
        if (err) {
            error_propagate_prepend(errp, err,
                                    "cosim-nvme: faults: %s: rule %u: ",
                                    path, n);
            ok = false;
            break;
        }
    }
    qobject_unref(obj);
    return ok;
}

/* qom-get <controller> stats: the core's counters, as one dictionary */
void cosim_nvme_get_stats(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    CosimNvmeState *s = COSIM_NVME(obj);
    struct nvme_ctrl_stats st = { 0 };
    uint64_t completed, dropped, sub, comp;
    uint32_t qid;

    if (s->ctrl) {
        nvme_ctrl_get_stats(s->ctrl, &st);
    }
    completed = st.admin_completed + st.io_completed;
    dropped = st.cmds_dropped;
    if (!strcmp(name, "commands-completed")) {
        visit_type_uint64(v, name, &completed, errp);
        return;
    }
    if (!strcmp(name, "commands-dropped")) {
        visit_type_uint64(v, name, &dropped, errp);
        return;
    }
    if (!visit_start_struct(v, name, NULL, 0, errp)) {
        return;
    }
#define F(n, x) if (!visit_type_uint64(v, n, &(x), errp)) { goto out; }
    F("admin-submitted", st.admin_submitted);
    F("admin-completed", st.admin_completed);
    F("io-submitted", st.io_submitted);
    F("io-completed", st.io_completed);
    F("commands-completed", completed);
    F("commands-dropped", st.cmds_dropped);
    F("commands-delayed", st.cmds_delayed);
    F("status-injected", st.cmds_status);
    F("irqs-dropped", st.irqs_dropped);
    F("extra-completions", st.extra_completions);
    F("reads-corrupted", st.reads_corrupted);
    F("writes-lost", st.writes_lost);
    F("writes-torn", st.writes_torn);
    F("writes-misdirected", st.writes_misdirected);
    F("writes-stale", st.writes_stale);
    F("faults-fired", st.faults_fired);
    F("aborts", st.aborts);
    F("aborts-succeeded", st.aborts_succeeded);
    F("resets", st.resets);
    F("hard-resets", st.hard_resets);
    F("vanished", st.vanished);
    /* "queues": {"<sqid>": {"submitted": n, "completed": m}} for SQs used */
    if (!visit_start_struct(v, "queues", NULL, 0, errp)) {
        goto out;
    }
    for (qid = 0; s->ctrl &&
         nvme_ctrl_get_queue_stats(s->ctrl, qid, &sub, &comp); qid++) {
        char key[12];

        if (!sub && !comp) {
            continue;
        }
        snprintf(key, sizeof(key), "%u", qid);
        if (!visit_start_struct(v, key, NULL, 0, errp)) {
            break;
        }
        F("submitted", sub);
        F("completed", comp);
        visit_check_struct(v, errp);
        visit_end_struct(v, NULL);
    }
    visit_check_struct(v, errp);
    visit_end_struct(v, NULL);
#undef F
    visit_check_struct(v, errp);
out:
    visit_end_struct(v, NULL);
}
