/*
 * libnice-peer: one libnice ICE agent driven over stdin/stdout, for the netns backend of the
 * conformance harness (issue #8). Built by the harness with
 *   gcc -O1 -o libnice-peer libnice-peer.c $(pkg-config --cflags --libs nice)
 * against Debian's libnice-dev (0.1.21). Written for this project.
 *
 * Arguments:
 *   --controlling | --controlled    ICE role (the Jingle initiator is controlling)
 *   --components N                  1 (default) or 2
 *   --addr IP                       a local address to gather host candidates on (repeatable)
 *   --stun IP:PORT                  a STUN server (libnice takes one)
 *   --turn IP:PORT --turn-user USER --turn-pass PASS
 *                                   a TURN server reached over UDP (RFC 8656), with long-term
 *                                   credentials, for every component (nice_agent_set_relay_info)
 *   --tcp                           ICE-TCP on (RFC 6544; "ice-tcp", with "ice-udp" still on):
 *                                   libnice gathers an active and a passive TCP host candidate
 *                                   per address (no simultaneous-open ones)
 *
 * Settings (from the project's lab notes): RFC 5245 compatibility, regular nomination, trickle,
 * UPnP off, ICE-TCP off unless --tcp, local addresses given explicitly.
 *
 * Output lines (stdout, one event each, flushed):
 *   creds UFRAG PWD
 *   cand SDP-CANDIDATE-LINE              ("a=candidate:..."), as gathered
 *   gathering-done
 *   state COMPONENT NAME                 (gathering, connecting, connected, ready, failed)
 *   selected COMPONENT LTYPE LIP LPORT RTYPE RIP RPORT TRANSPORT
 *                                        TRANSPORT: the local candidate's, udp, tcp-active,
 *                                        tcp-passive or tcp-so
 *   data COMPONENT HEX                   application data received
 *   error TEXT
 * Input lines (stdin):
 *   remote-creds UFRAG PWD
 *   remote-cand SDP-CANDIDATE-LINE
 *   remote-done                          the peer's end-of-candidates
 *   send COMPONENT HEX
 *   quit
 */
#include <glib.h>
#include <nice/agent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static NiceAgent *agent;
static guint stream_id;
static GMainLoop *loop;
static guint n_components = 1;

static const char *type_name(NiceCandidateType t) {
  switch (t) {
  case NICE_CANDIDATE_TYPE_HOST: return "host";
  case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return "srflx";
  case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return "prflx";
  case NICE_CANDIDATE_TYPE_RELAYED: return "relay";
  }
  return "unknown";
}

static const char *transport_name(NiceCandidateTransport t) {
  switch (t) {
  case NICE_CANDIDATE_TRANSPORT_UDP: return "udp";
  case NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE: return "tcp-active";
  case NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE: return "tcp-passive";
  case NICE_CANDIDATE_TRANSPORT_TCP_SO: return "tcp-so";
  }
  return "unknown";
}

static const char *state_name(guint s) {
  switch (s) {
  case NICE_COMPONENT_STATE_DISCONNECTED: return "disconnected";
  case NICE_COMPONENT_STATE_GATHERING: return "gathering";
  case NICE_COMPONENT_STATE_CONNECTING: return "connecting";
  case NICE_COMPONENT_STATE_CONNECTED: return "connected";
  case NICE_COMPONENT_STATE_READY: return "ready";
  case NICE_COMPONENT_STATE_FAILED: return "failed";
  }
  return "unknown";
}

static void out(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static void cb_new_candidate(NiceAgent *a, NiceCandidate *c, gpointer data) {
  (void)data;
  gchar *sdp = nice_agent_generate_local_candidate_sdp(a, c);
  if (sdp) {
    out("cand %s", sdp);
    g_free(sdp);
  }
}

static void cb_gathering_done(NiceAgent *a, guint stream, gpointer data) {
  (void)a; (void)stream; (void)data;
  out("gathering-done");
}

static void cb_state(NiceAgent *a, guint stream, guint component, guint state, gpointer data) {
  (void)a; (void)stream; (void)data;
  out("state %u %s", component, state_name(state));
}

static void cb_selected(NiceAgent *a, guint stream, guint component, NiceCandidate *l,
                        NiceCandidate *r, gpointer data) {
  (void)a; (void)stream; (void)data;
  gchar lip[NICE_ADDRESS_STRING_LEN], rip[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&l->addr, lip);
  nice_address_to_string(&r->addr, rip);
  out("selected %u %s %s %u %s %s %u %s", component, type_name(l->type), lip,
      nice_address_get_port(&l->addr), type_name(r->type), rip, nice_address_get_port(&r->addr),
      transport_name(l->transport));
}

static void cb_recv(NiceAgent *a, guint stream, guint component, guint len, gchar *buf,
                    gpointer data) {
  (void)a; (void)stream; (void)data;
  GString *hex = g_string_sized_new(len * 2 + 1);
  for (guint i = 0; i < len; i++)
    g_string_append_printf(hex, "%02x", (unsigned char)buf[i]);
  out("data %u %s", component, hex->str);
  g_string_free(hex, TRUE);
}

static guint8 *unhex(const char *s, gsize *len) {
  gsize n = strlen(s);
  if (n % 2 != 0 || n > 131072)
    return NULL;
  guint8 *b = g_malloc(n / 2 + 1);
  for (gsize i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) {
      g_free(b);
      return NULL;
    }
    b[i] = (guint8)v;
  }
  *len = n / 2;
  return b;
}

static void handle_line(char *line) {
  g_strchomp(line);
  if (g_str_has_prefix(line, "remote-creds ")) {
    gchar **p = g_strsplit(line + 13, " ", 2);
    if (p[0] && p[1]) {
      if (!nice_agent_set_remote_credentials(agent, stream_id, p[0], p[1]))
        out("error remote credentials refused");
    } else {
      out("error remote-creds needs UFRAG PWD");
    }
    g_strfreev(p);
  } else if (g_str_has_prefix(line, "remote-cand ")) {
    NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(agent, stream_id, line + 12);
    if (!c) {
      out("error cannot parse candidate: %s", line + 12);
      return;
    }
    GSList *l = g_slist_append(NULL, c);
    if (nice_agent_set_remote_candidates(agent, stream_id, c->component_id, l) < 0)
      out("error candidate refused: %s", line + 12);
    g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
  } else if (strcmp(line, "remote-done") == 0) {
    nice_agent_peer_candidate_gathering_done(agent, stream_id);
  } else if (g_str_has_prefix(line, "send ")) {
    guint component = 0;
    char hex[140000];
    if (sscanf(line + 5, "%u %139999s", &component, hex) != 2) {
      out("error send needs COMPONENT HEX");
      return;
    }
    gsize len = 0;
    guint8 *buf = unhex(hex, &len);
    if (!buf) {
      out("error bad hex");
      return;
    }
    if (nice_agent_send(agent, stream_id, component, len, (const gchar *)buf) < 0)
      out("error send failed");
    g_free(buf);
  } else if (strcmp(line, "quit") == 0) {
    g_main_loop_quit(loop);
  } else if (line[0] != '\0') {
    out("error unknown command: %s", line);
  }
}

static gboolean on_stdin(GIOChannel *ch, GIOCondition cond, gpointer data) {
  (void)data;
  if (cond & (G_IO_HUP | G_IO_ERR)) {
    g_main_loop_quit(loop);
    return FALSE;
  }
  gchar *line = NULL;
  gsize len = 0;
  GIOStatus st = g_io_channel_read_line(ch, &line, &len, NULL, NULL);
  if (st == G_IO_STATUS_NORMAL && line) {
    handle_line(line);
    g_free(line);
    return TRUE;
  }
  g_free(line);
  if (st == G_IO_STATUS_EOF) {
    g_main_loop_quit(loop);
    return FALSE;
  }
  return TRUE;
}

int main(int argc, char **argv) {
  gboolean controlling = TRUE;
  gboolean tcp = FALSE;
  GSList *addrs = NULL;
  const char *stun = NULL;
  const char *turn = NULL, *turn_user = "", *turn_pass = "";
  /* stdout is the protocol: GLib's and libnice's log messages (G_MESSAGES_DEBUG=all,
   * NICE_DEBUG=all) go to stderr, which the harness sends to $LIBNICE_PEER_LOG or nowhere. */
  g_log_writer_default_set_use_stderr(TRUE);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--controlling") == 0) controlling = TRUE;
    else if (strcmp(argv[i], "--controlled") == 0) controlling = FALSE;
    else if (strcmp(argv[i], "--components") == 0 && i + 1 < argc) n_components = (guint)atoi(argv[++i]);
    else if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) addrs = g_slist_append(addrs, argv[++i]);
    else if (strcmp(argv[i], "--stun") == 0 && i + 1 < argc) stun = argv[++i];
    else if (strcmp(argv[i], "--turn") == 0 && i + 1 < argc) turn = argv[++i];
    else if (strcmp(argv[i], "--turn-user") == 0 && i + 1 < argc) turn_user = argv[++i];
    else if (strcmp(argv[i], "--turn-pass") == 0 && i + 1 < argc) turn_pass = argv[++i];
    else if (strcmp(argv[i], "--tcp") == 0) tcp = TRUE;
    else {
      fprintf(stderr, "libnice-peer: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (n_components < 1 || n_components > 2) {
    fprintf(stderr, "libnice-peer: --components is 1 or 2\n");
    return 2;
  }
  loop = g_main_loop_new(NULL, FALSE);
  agent = nice_agent_new_full(g_main_loop_get_context(loop), NICE_COMPATIBILITY_RFC5245,
                              NICE_AGENT_OPTION_REGULAR_NOMINATION | NICE_AGENT_OPTION_ICE_TRICKLE);
  g_object_set(agent, "controlling-mode", controlling, "upnp", FALSE, "ice-udp", TRUE, "ice-tcp",
               tcp, NULL);
  if (stun) {
    gchar **p = g_strsplit(stun, ":", 2);
    if (p[0] && p[1]) {
      g_object_set(agent, "stun-server", p[0], "stun-server-port", (guint)atoi(p[1]), NULL);
    }
    g_strfreev(p);
  }
  for (GSList *a = addrs; a; a = a->next) {
    NiceAddress addr;
    nice_address_init(&addr);
    if (!nice_address_set_from_string(&addr, a->data)) {
      fprintf(stderr, "libnice-peer: bad address %s\n", (char *)a->data);
      return 2;
    }
    nice_agent_add_local_address(agent, &addr);
  }
  g_signal_connect(agent, "new-candidate-full", G_CALLBACK(cb_new_candidate), NULL);
  g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(cb_gathering_done), NULL);
  g_signal_connect(agent, "component-state-changed", G_CALLBACK(cb_state), NULL);
  g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(cb_selected), NULL);
  stream_id = nice_agent_add_stream(agent, n_components);
  for (guint c = 1; c <= n_components; c++)
    nice_agent_attach_recv(agent, stream_id, c, g_main_loop_get_context(loop), cb_recv, NULL);
  if (turn) {
    gchar **p = g_strsplit(turn, ":", 2);
    for (guint c = 1; p[0] && p[1] && c <= n_components; c++) {
      if (!nice_agent_set_relay_info(agent, stream_id, c, p[0], (guint)atoi(p[1]), turn_user,
                                     turn_pass, NICE_RELAY_TYPE_TURN_UDP)) {
        out("error relay info refused for component %u", c);
      }
    }
    g_strfreev(p);
  }
  gchar *ufrag = NULL, *pwd = NULL;
  nice_agent_get_local_credentials(agent, stream_id, &ufrag, &pwd);
  out("creds %s %s", ufrag, pwd);
  g_free(ufrag);
  g_free(pwd);
  GIOChannel *in = g_io_channel_unix_new(0);
  g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);
  if (!nice_agent_gather_candidates(agent, stream_id)) {
    out("error gathering failed to start");
  }
  g_main_loop_run(loop);
  g_io_channel_unref(in);
  g_object_unref(agent);
  g_main_loop_unref(loop);
  g_slist_free(addrs);
  return 0;
}
