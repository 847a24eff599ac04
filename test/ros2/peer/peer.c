/*
 * Interop peer for test/ros2/interop.test.ts: a typed Cyclone DDS program (types from idlc on ros2_peer.idl), not
 * using any of the project's code. It
 *   - echoes every sensor_msgs/Image and geometry_msgs/WrenchStamped it takes on rt/interop/to_peer/{image,wrench}
 *     back as typed samples on rt/interop/echo/{image,wrench}, printing what it decoded;
 *   - publishes its own known samples on rt/interop/from_peer/{image,wrench} (values in the test) every 50 ms;
 *   - exits after it has echoed one of each and published at least 10 of its own, or after 20 s.
 * Usage: peer <domain id>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dds/dds.h"
#include "ros2_peer.h"

static dds_entity_t ep(dds_entity_t pp, const dds_topic_descriptor_t *d, const char *name, int writer) {
  dds_entity_t t = dds_create_topic(pp, d, name, NULL, NULL);
  if (t < 0) { fprintf(stderr, "topic %s: %s\n", name, dds_strretcode(t)); exit(2); }
  dds_qos_t *q = dds_create_qos();
  dds_qset_reliability(q, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
  dds_qset_history(q, DDS_HISTORY_KEEP_LAST, 4);
  dds_entity_t e = writer ? dds_create_writer(pp, t, q, NULL) : dds_create_reader(pp, t, q, NULL);
  dds_delete_qos(q);
  if (e < 0) { fprintf(stderr, "endpoint %s: %s\n", name, dds_strretcode(e)); exit(2); }
  return e;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: peer <domain>\n"); return 2; }
  dds_entity_t pp = dds_create_participant((dds_domainid_t)atoi(argv[1]), NULL, NULL);
  if (pp < 0) { fprintf(stderr, "participant: %s\n", dds_strretcode(pp)); return 2; }
  dds_entity_t in_img = ep(pp, &sensor_msgs_msg_dds__Image__desc, "rt/interop/to_peer/image", 0);
  dds_entity_t in_wr = ep(pp, &geometry_msgs_msg_dds__WrenchStamped__desc, "rt/interop/to_peer/wrench", 0);
  dds_entity_t echo_img = ep(pp, &sensor_msgs_msg_dds__Image__desc, "rt/interop/echo/image", 1);
  dds_entity_t echo_wr = ep(pp, &geometry_msgs_msg_dds__WrenchStamped__desc, "rt/interop/echo/wrench", 1);
  dds_entity_t own_img = ep(pp, &sensor_msgs_msg_dds__Image__desc, "rt/interop/from_peer/image", 1);
  dds_entity_t own_wr = ep(pp, &geometry_msgs_msg_dds__WrenchStamped__desc, "rt/interop/from_peer/wrench", 1);

  /* its own samples: a 640x480 rgb8 frame with data[i] = (i*7) & 0xff, and a known wrench */
  static uint8_t pixels[640 * 480 * 3];
  for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)((i * 7) & 0xff);
  sensor_msgs_msg_dds__Image_ img = {0};
  img.header.stamp.sec = 42; img.header.stamp.nanosec = 123456789; img.header.frame_id = "peer_cam";
  img.height = 480; img.width = 640; img.encoding = "rgb8"; img.is_bigendian = 0; img.step = 640 * 3;
  img.data._buffer = pixels; img.data._length = img.data._maximum = sizeof pixels; img.data._release = false;
  geometry_msgs_msg_dds__WrenchStamped_ wr = {0};
  wr.header.stamp.sec = 43; wr.header.stamp.nanosec = 5; wr.header.frame_id = "peer_ft";
  wr.wrench.force.x = 0.5; wr.wrench.force.y = -1.25; wr.wrench.force.z = 9.81;
  wr.wrench.torque.x = 0.01; wr.wrench.torque.y = -0.02; wr.wrench.torque.z = 0.03;

  int echoed_img = 0, echoed_wr = 0, sent = 0;
  for (int tick = 0; tick < 4000 && !(echoed_img && echoed_wr && sent >= 10); tick++) {
    void *s[1] = {NULL};
    dds_sample_info_t si[1];
    if (dds_take(in_img, s, si, 1, 1) > 0) {
      if (si[0].valid_data) {
        sensor_msgs_msg_dds__Image_ *m = s[0];
        unsigned long sum = 0;
        for (uint32_t i = 0; i < m->data._length; i++) sum = (sum * 31 + m->data._buffer[i]) % 1000000007UL;
        printf("image %u %u %s %u %u %u %s %d %u %lu\n", m->width, m->height, m->encoding, m->is_bigendian, m->step,
               m->data._length, m->header.frame_id, m->header.stamp.sec, m->header.stamp.nanosec, sum);
        dds_write(echo_img, m);
        echoed_img = 1;
      }
      dds_return_loan(in_img, s, 1);
    }
    s[0] = NULL;
    if (dds_take(in_wr, s, si, 1, 1) > 0) {
      if (si[0].valid_data) {
        geometry_msgs_msg_dds__WrenchStamped_ *m = s[0];
        printf("wrench %.17g %.17g %.17g %.17g %.17g %.17g %s %d %u\n", m->wrench.force.x, m->wrench.force.y, m->wrench.force.z,
               m->wrench.torque.x, m->wrench.torque.y, m->wrench.torque.z, m->header.frame_id, m->header.stamp.sec, m->header.stamp.nanosec);
        dds_write(echo_wr, m);
        echoed_wr = 1;
      }
      dds_return_loan(in_wr, s, 1);
    }
    fflush(stdout);
    if (tick % 10 == 0) {
      dds_publication_matched_status_t st;
      dds_get_publication_matched_status(own_img, &st);
      if (st.current_count > 0) {
        dds_write(own_img, &img);
        dds_write(own_wr, &wr);
        sent++;
      }
    }
    dds_sleepfor(DDS_MSECS(5));
  }
  dds_sleepfor(DDS_MSECS(200)); /* let reliable samples drain before the participant goes */
  printf("done %d %d %d\n", echoed_img, echoed_wr, sent);
  fflush(stdout);
  dds_delete(pp);
  return echoed_img && echoed_wr ? 0 : 1;
}
