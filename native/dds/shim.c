/*
 * dds_shim: a small N-API addon that publishes and takes serialized CDR samples on DDS topics through Cyclone DDS
 * (Debian's cyclonedds-dev), so Node can speak ROS 2's wire format without a ROS installation.
 *
 * Topics are created with idlc-generated type descriptors for ROS 2's type names (ros2_types.idl, type_table.h), so
 * every sample is checked against its type: a write converts the CDR bytes into a typed sample (rejecting malformed
 * bytes) and hands it to dds_write; a take serializes the typed sample back to XCDR1 little-endian. On the wire the
 * shim is an ordinary typed Cyclone DDS application.
 *
 * Readers notify JS through a thread-safe function at most once per batch (an atomic flag), so a fast stream never
 * builds a queue of callbacks; JS then takes whatever the reader's history holds (KEEP_LAST depth).
 *
 * Threads: a Node-API addon is context-aware, so a worker thread (the daemon's control thread) loads its own instance
 * and opens its own participant; nothing here is global. Environment cleanup hooks delete a thread's readers and
 * participants when that thread ends without closing them (terminated), so no DDS listener outlives its JS side.
 */
#include <node_api.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dds/dds.h"
#include "dds/ddsi/ddsi_cdrstream.h"
#include "type_table.h"

#ifndef CDR_ENC_VERSION_1
#define CDR_ENC_VERSION_1 1 /* XCDR1, as ROS 2 uses (dds/ddsi/q_protocol.h) */
#endif

#define NAPI_OK(call)                                                      \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, "DDS_SHIM", "N-API call failed: " #call);      \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_dds(napi_env env, const char *what, dds_return_t rc) {
  char msg[256];
  snprintf(msg, sizeof msg, "dds_shim: %s failed: %s", what, dds_strretcode(rc));
  napi_throw_error(env, "DDS_SHIM", msg);
  return NULL;
}

static const dds_topic_descriptor_t *find_type(const char *name) {
  for (size_t i = 0; i < sizeof SHIM_TYPES / sizeof SHIM_TYPES[0]; i++)
    if (strcmp(SHIM_TYPES[i].name, name) == 0) return SHIM_TYPES[i].desc;
  return NULL;
}

/* ---- argument helpers ---- */

static int get_i32(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }

static int get_str(napi_env env, napi_value v, char *buf, size_t n) {
  size_t len;
  return napi_get_value_string_utf8(env, v, buf, n, &len) == napi_ok && len < n - 1;
}

/* ---- entities: participant, writer, reader ---- */

typedef struct {
  const dds_topic_descriptor_t *desc;
  dds_entity_t entity;
} writer_ctx;

typedef struct {
  const dds_topic_descriptor_t *desc;
  dds_entity_t entity;
  napi_threadsafe_function tsfn;
  atomic_int pending;
  atomic_int closed;
} reader_ctx;

/* The thread ends with the participant still open (terminated): delete it and everything under it. */
static void participant_cleanup(void *arg) { dds_delete((dds_entity_t)(intptr_t)arg); }

/* open(domainId) -> participant handle */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t domain = 0;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &domain) || domain < 0 || domain > 232) {
    napi_throw_type_error(env, NULL, "dds_shim.open(domainId): domain id 0..232");
    return NULL;
  }
  dds_entity_t pp = dds_create_participant((dds_domainid_t)domain, NULL, NULL);
  if (pp < 0) return throw_dds(env, "dds_create_participant (check CYCLONEDDS_URI)", pp);
  napi_add_env_cleanup_hook(env, participant_cleanup, (void *)(intptr_t)pp);
  NAPI_OK(napi_create_int32(env, pp, &out));
  return out;
}

/* qos from (reliable, transientLocal, depth) */
static dds_qos_t *make_qos(int reliable, int transient_local, int depth) {
  dds_qos_t *q = dds_create_qos();
  dds_qset_reliability(q, reliable ? DDS_RELIABILITY_RELIABLE : DDS_RELIABILITY_BEST_EFFORT, DDS_MSECS(100));
  dds_qset_durability(q, transient_local ? DDS_DURABILITY_TRANSIENT_LOCAL : DDS_DURABILITY_VOLATILE);
  dds_qset_history(q, DDS_HISTORY_KEEP_LAST, depth);
  /* ROS 2 (rmw_cyclonedds) uses XCDR1 */
  dds_data_representation_id_t rep = DDS_DATA_REPRESENTATION_XCDR1;
  dds_qset_data_representation(q, 1, &rep);
  return q;
}

/* common parsing for writer/reader: (pp, topic, type, reliable, transientLocal, depth) */
static int endpoint_args(napi_env env, napi_value *argv, size_t argc, dds_entity_t *topic_out,
                         const dds_topic_descriptor_t **desc_out, dds_qos_t **qos_out) {
  int32_t pp, reliable, tl, depth;
  char topic[256], type[256];
  if (argc < 6 || !get_i32(env, argv[0], &pp) || !get_str(env, argv[1], topic, sizeof topic) ||
      !get_str(env, argv[2], type, sizeof type) || !get_i32(env, argv[3], &reliable) || !get_i32(env, argv[4], &tl) ||
      !get_i32(env, argv[5], &depth) || depth < 1) {
    napi_throw_type_error(env, NULL, "dds_shim: (participant, topic, typeName, reliable 0|1, transientLocal 0|1, depth >= 1)");
    return 0;
  }
  const dds_topic_descriptor_t *desc = find_type(type);
  if (!desc) {
    char msg[400];
    snprintf(msg, sizeof msg, "dds_shim: type %s is not compiled into the shim (native/dds/ros2_types.idl)", type);
    napi_throw_error(env, "DDS_SHIM_TYPE", msg);
    return 0;
  }
  dds_entity_t t = dds_create_topic(pp, desc, topic, NULL, NULL);
  if (t < 0) {
    throw_dds(env, "dds_create_topic", t);
    return 0;
  }
  *topic_out = t;
  *desc_out = desc;
  *qos_out = make_qos(reliable, tl, depth);
  return 1;
}

static void finalize_writer(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  free(data);
}

/* writer(pp, topic, type, reliable, transientLocal, depth) -> external */
static napi_value js_writer(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  dds_entity_t topic;
  const dds_topic_descriptor_t *desc;
  dds_qos_t *qos;
  int32_t pp;
  if (!endpoint_args(env, argv, argc, &topic, &desc, &qos)) return NULL;
  get_i32(env, argv[0], &pp);
  dds_entity_t w = dds_create_writer(pp, topic, qos, NULL);
  dds_delete_qos(qos);
  if (w < 0) return throw_dds(env, "dds_create_writer", w);
  writer_ctx *c = calloc(1, sizeof *c);
  c->desc = desc;
  c->entity = w;
  NAPI_OK(napi_create_external(env, c, finalize_writer, NULL, &out));
  return out;
}

/* write(writer, Uint8Array cdr-with-4-byte-header) */
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  writer_ctx *c;
  napi_typedarray_type tt;
  size_t len;
  void *data;
  if (argc < 2 || napi_get_value_external(env, argv[0], (void **)&c) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &tt, &len, &data, NULL, NULL) != napi_ok || tt != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "dds_shim.write(writer, Uint8Array)");
    return NULL;
  }
  if (c->entity == 0) {
    napi_throw_error(env, "DDS_SHIM", "dds_shim.write: writer is closed");
    return NULL;
  }
  const unsigned char *b = data;
  if (len < 4 || b[0] != 0 || (b[1] != 0 && b[1] != 1)) {
    napi_throw_error(env, "DDS_SHIM_CDR", "dds_shim.write: not a plain CDR sample (want header 00 00|01 ..)");
    return NULL;
  }
  int bswap = (b[1] == 0); /* 00 00 = big-endian CDR; the host is little-endian */
  uint32_t size = (uint32_t)(len - 4), actual = 0;
  char *body = malloc(size ? size : 1);
  memcpy(body, b + 4, size);
  /* validates bounds, string terminators and sequence lengths against the type; byte-swaps big-endian input */
  if (dds_stream_normalize_data(body, &actual, size, bswap, CDR_ENC_VERSION_1, c->desc->m_ops) == NULL) {
    free(body);
    char msg[400];
    snprintf(msg, sizeof msg, "dds_shim.write: %zu-byte sample does not match type %s", len, c->desc->m_typename);
    napi_throw_error(env, "DDS_SHIM_CDR", msg);
    return NULL;
  }
  void *sample = calloc(1, c->desc->m_size);
  dds_istream_t is;
  dds_istream_init(&is, size, body, CDR_ENC_VERSION_1);
  dds_stream_read(&is, sample, c->desc->m_ops);
  dds_istream_fini(&is);
  dds_return_t rc = dds_write(c->entity, sample);
  dds_stream_free_sample(sample, c->desc->m_ops);
  free(sample);
  free(body);
  if (rc < 0) return throw_dds(env, "dds_write", rc);
  return NULL;
}

/* ---- readers ---- */

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  reader_ctx *c = context;
  (void)data;
  if (env == NULL || atomic_load(&c->closed)) return;
  atomic_store(&c->pending, 0); /* before JS takes: data arriving from now on notifies again */
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, js_cb, 0, NULL, NULL);
}

static void on_data_available(dds_entity_t rd, void *arg) {
  reader_ctx *c = arg;
  (void)rd;
  if (atomic_load(&c->closed)) return;
  if (atomic_exchange(&c->pending, 1) == 0) napi_call_threadsafe_function(c->tsfn, NULL, napi_tsfn_nonblocking);
}

/* The thread ends with the reader still open: stop its listener before the notification function is torn down. */
static void reader_cleanup(void *arg) {
  reader_ctx *c = arg;
  if (atomic_exchange(&c->closed, 1)) return;
  dds_delete(c->entity); /* waits for a running listener to finish */
}


static void finalize_tsfn(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  free(data);
}

/* reader(pp, topic, type, reliable, transientLocal, depth, onData) -> external */
static napi_value js_reader(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], out, name;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype vt;
  if (argc < 7 || napi_typeof(env, argv[6], &vt) != napi_ok || vt != napi_function) {
    napi_throw_type_error(env, NULL, "dds_shim.reader(participant, topic, typeName, reliable, transientLocal, depth, onData)");
    return NULL;
  }
  dds_entity_t topic;
  const dds_topic_descriptor_t *desc;
  dds_qos_t *qos;
  int32_t pp;
  if (!endpoint_args(env, argv, argc, &topic, &desc, &qos)) return NULL;
  get_i32(env, argv[0], &pp);
  reader_ctx *c = calloc(1, sizeof *c);
  c->desc = desc;
  atomic_init(&c->pending, 0);
  atomic_init(&c->closed, 0);
  NAPI_OK(napi_create_string_utf8(env, "dds_shim.reader", NAPI_AUTO_LENGTH, &name));
  if (napi_create_threadsafe_function(env, argv[6], NULL, name, 0, 1, NULL, finalize_tsfn, c, call_js, &c->tsfn) != napi_ok) {
    free(c);
    dds_delete_qos(qos);
    napi_throw_error(env, "DDS_SHIM", "dds_shim.reader: cannot create the notification function");
    return NULL;
  }
  /* a reader alone must not keep the process alive */
  napi_unref_threadsafe_function(env, c->tsfn);
  dds_listener_t *l = dds_create_listener(c);
  dds_lset_data_available(l, on_data_available);
  dds_entity_t r = dds_create_reader(pp, topic, qos, l);
  dds_delete_listener(l);
  dds_delete_qos(qos);
  if (r < 0) {
    atomic_store(&c->closed, 1);
    napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
    return throw_dds(env, "dds_create_reader", r);
  }
  c->entity = r;
  /* registered after the tsfn, so it runs before the tsfn's own teardown (cleanup hooks run last-in first-out) */
  napi_add_env_cleanup_hook(env, reader_cleanup, c);
  /* the external does not own c: the tsfn finalizer frees it after close() */
  NAPI_OK(napi_create_external(env, c, NULL, NULL, &out));
  return out;
}

#define TAKE_BATCH 16

/* take(reader) -> Uint8Array[] (each with the 4-byte CDR header), oldest first */
static napi_value js_take(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_ctx *c;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&c) != napi_ok) {
    napi_throw_type_error(env, NULL, "dds_shim.take(reader)");
    return NULL;
  }
  NAPI_OK(napi_create_array(env, &arr));
  if (atomic_load(&c->closed)) return arr;
  uint32_t k = 0;
  for (;;) {
    void *samples[TAKE_BATCH] = {NULL};
    dds_sample_info_t infos[TAKE_BATCH];
    dds_return_t n = dds_take(c->entity, samples, infos, TAKE_BATCH, TAKE_BATCH);
    if (n < 0) return throw_dds(env, "dds_take", n);
    for (int i = 0; i < n; i++) {
      if (!infos[i].valid_data) continue;
      dds_ostreamLE_t os;
      dds_ostreamLE_init(&os, 0, CDR_ENC_VERSION_1);
      dds_stream_writeLE(&os, samples[i], c->desc->m_ops);
      napi_value ab, u8;
      void *dst;
      size_t total = (size_t)os.x.m_index + 4;
      if (napi_create_arraybuffer(env, total, &dst, &ab) == napi_ok) {
        unsigned char *d = dst;
        d[0] = 0; d[1] = 1; d[2] = 0; d[3] = 0; /* CDR_LE, no options */
        memcpy(d + 4, os.x.m_buffer, os.x.m_index);
        napi_create_typedarray(env, napi_uint8_array, total, ab, 0, &u8);
        napi_set_element(env, arr, k++, u8);
      }
      dds_ostreamLE_fini(&os);
    }
    if (n > 0) dds_return_loan(c->entity, samples, n);
    if (n < TAKE_BATCH) break;
  }
  return arr;
}

/* matched(writerOrReader) -> number of matched remote endpoints */
static napi_value js_matched(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p;
  int32_t is_reader = 0;
  if (argc < 2 || napi_get_value_external(env, argv[0], &p) != napi_ok || !get_i32(env, argv[1], &is_reader)) {
    napi_throw_type_error(env, NULL, "dds_shim.matched(endpoint, isReader 0|1)");
    return NULL;
  }
  uint32_t count = 0;
  if (is_reader) {
    dds_subscription_matched_status_t st;
    if (dds_get_subscription_matched_status(((reader_ctx *)p)->entity, &st) == 0) count = st.current_count;
  } else {
    dds_publication_matched_status_t st;
    if (dds_get_publication_matched_status(((writer_ctx *)p)->entity, &st) == 0) count = st.current_count;
  }
  NAPI_OK(napi_create_uint32(env, count, &out));
  return out;
}

/* closeWriter(w), closeReader(r), close(participant) */
static napi_value js_close_writer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  writer_ctx *c;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&c) != napi_ok) return NULL;
  if (c->entity) dds_delete(c->entity);
  c->entity = 0;
  return NULL;
}

static napi_value js_close_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_ctx *c;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&c) != napi_ok) return NULL;
  if (atomic_exchange(&c->closed, 1)) return NULL;
  napi_remove_env_cleanup_hook(env, reader_cleanup, c);
  dds_delete(c->entity); /* waits for a running listener to finish */
  napi_release_threadsafe_function(c->tsfn, napi_tsfn_release);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t pp;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &pp)) return NULL;
  napi_remove_env_cleanup_hook(env, participant_cleanup, (void *)(intptr_t)pp);
  dds_delete(pp);
  return NULL;
}

/* types() -> type names compiled in */
static napi_value js_types(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value arr, s;
  NAPI_OK(napi_create_array(env, &arr));
  for (uint32_t i = 0; i < sizeof SHIM_TYPES / sizeof SHIM_TYPES[0]; i++) {
    napi_create_string_utf8(env, SHIM_TYPES[i].name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, i, s);
  }
  return arr;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"writer", NULL, js_writer, NULL, NULL, NULL, napi_default, NULL},
    {"write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL},
    {"reader", NULL, js_reader, NULL, NULL, NULL, napi_default, NULL},
    {"take", NULL, js_take, NULL, NULL, NULL, napi_default, NULL},
    {"matched", NULL, js_matched, NULL, NULL, NULL, napi_default, NULL},
    {"closeWriter", NULL, js_close_writer, NULL, NULL, NULL, napi_default, NULL},
    {"closeReader", NULL, js_close_reader, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    {"types", NULL, js_types, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
