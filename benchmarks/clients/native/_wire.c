/* The cheap load client's packet I/O in C: build a frame's RTP packets, keep them for
 * retransmission, SRTP-protect and send them; read a socket's datagrams with their kernel
 * receive times. Why C: with the packets built in
 * compiled Python (mypyc), what was left per packet was glue, not work: cffi's argument
 * conversions and buffer copies around libsrtp's srtp_protect, a bytes object per protected
 * packet, Python's socket.sendmsg parsing its buffers and the node's address again on every
 * call, and ctypes and struct around recvmmsg. Here each of those is a C call into libsrtp or
 * the kernel on buffers allocated once (docs/benchmarks.md, "Load clients").
 *
 * libsrtp itself is pylibsrtp's (the copy aiortc's DTLS transport keyed): the caller passes the
 * address of its srtp_protect and of the session's srtp_t, as cffi gives them
 * (benchmarks/clients/native/wire.py checks the function's C type first). This module links
 * nothing but libc.
 *
 * Everything here is optional: without a C compiler the client uses its Python paths
 * (media_sender.py, datagrams.py), which send and read the same datagrams, only at more CPU. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h */
#endif

#define MAX_PACKETS 64        /* per call: the kernel's UDP_MAX_SEGMENTS */
#define SLOT 2048             /* bytes per packet slot: an MTU-sized packet and its SRTP trailer */
#define SRTP_TRAILER 148      /* libsrtp's SRTP_MAX_TRAILER_LEN (tag and MKI), room kept free */
#define GSO_BYTES 65000       /* one GSO send stays below the 64 KiB of one UDP datagram */

/* libsrtp 2.x: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr) */
typedef int (*protect_fn)(void *ctx, void *packet, int *length);

static unsigned char out_slots[MAX_PACKETS][SLOT];
static int out_sizes[MAX_PACKETS];

/* --- sending ------------------------------------------------------------------------------ */

static int send_one(int fd, const struct sockaddr *to, socklen_t to_len, int at) {
    ssize_t n = sendto(fd, out_slots[at], (size_t)out_sizes[at], 0, to, to_len);
    return n < 0 ? -errno : 1;
}

/* out_slots[first, first + count) in one sendmsg with UDP_SEGMENT (all of one size but the
 * last, which is no longer): the kernel cuts it into the same datagrams. */
static int send_gso(int fd, const struct sockaddr *to, socklen_t to_len, int first, int count) {
    struct iovec iov[MAX_PACKETS];
    char control[CMSG_SPACE(sizeof(uint16_t))];
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    memset(control, 0, sizeof control);
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = out_slots[first + i];
        iov[i].iov_len = (size_t)out_sizes[first + i];
    }
    msg.msg_name = (void *)to;
    msg.msg_namelen = to_len;
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)count;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_UDP;
    cmsg->cmsg_type = UDP_SEGMENT;
    cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t segment = (uint16_t)out_sizes[first];
    memcpy(CMSG_DATA(cmsg), &segment, sizeof segment);
    ssize_t n = sendmsg(fd, &msg, 0);
    return n < 0 ? -errno : count;
}

/* Sends out_slots[0, count) (protected already) to ``to``: with ``gso``, runs of one size (the
 * last of a run may be shorter) in one sendmsg each, else one sendto each. Returns how many
 * datagrams the kernel took, as a Python int; on EAGAIN the rest are appended to ``spill`` as
 * bytes; another socket error raises OSError (NULL). */
static PyObject *send_slots(int fd, const struct sockaddr *to, socklen_t to_len, int count, int gso,
                            PyObject *spill) {
    int sent = 0;
    int at = 0;
    int error = 0;
    while (at < count) {
        int run = 1;
        if (gso) {
            /* The longest run from ``at`` that GSO takes: equal sizes, then at most one shorter
             * last segment, within one datagram's 64 KiB. */
            int total = out_sizes[at];
            while (at + run < count && out_sizes[at + run] <= out_sizes[at] &&
                   total + out_sizes[at + run] <= GSO_BYTES) {
                total += out_sizes[at + run];
                run++;
                if (out_sizes[at + run - 1] < out_sizes[at]) break;
            }
        }
        int result = run > 1 ? send_gso(fd, to, to_len, at, run) : send_one(fd, to, to_len, at);
        if (result < 0) {
            error = -result;
            break;
        }
        sent += result;
        at += run;
    }
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) {
        for (int i = at; i < count; i++) {
            PyObject *copy = PyBytes_FromStringAndSize((const char *)out_slots[i], out_sizes[i]);
            if (copy == NULL) return NULL;
            int failed = PyList_Append(spill, copy);
            Py_DECREF(copy);
            if (failed) return NULL;
        }
    } else if (error != 0) {
        errno = error;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(sent);
}

/* sockaddr(host, port) -> bytes: a numeric IPv4 or IPv6 address as the kernel's struct
 * sockaddr_in / sockaddr_in6, built once per peer instead of parsed on every send. */
static PyObject *make_sockaddr(PyObject *self, PyObject *args) {
    (void)self;
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si", &host, &port)) return NULL;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof v4);
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)port);
        return PyBytes_FromStringAndSize((const char *)&v4, sizeof v4);
    }
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof v6);
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)port);
        return PyBytes_FromStringAndSize((const char *)&v6, sizeof v6);
    }
    PyErr_Format(PyExc_ValueError, "not a numeric IP address: %s", host);
    return NULL;
}

/* --- a stream's frames: numbered, kept, protected and sent ----------------------------------- */

#define HISTORY 1024 /* packets kept per stream for retransmission (a power of two) */

/* FrameWriter(fd, address, ctx, protect, b0, pt, marker, vp8, ssrc, ext_head, ext_tail,
 *             transport): one outgoing RTP stream of a cheap publisher. Per frame,
 * :meth:`send_frame` writes each packet's RTP header (RFC 3550 §5.1: ``b0`` is its first byte,
 * ``pt`` the payload type, the marker bit on a frame's last packet with ``marker``), the header
 * extension block ``ext_head`` + [the transport-wide sequence number, with ``transport``,
 * draft-holmer-rmcat-transport-wide-cc-extensions-01 §2] + ``ext_tail``, and with ``vp8`` the
 * VP8 payload descriptor (RFC 7741 §4.2: X, S on the first packet, I, M and a 15-bit
 * PictureID, as libwebrtc writes it) before each chunk; it keeps the clear packet for
 * retransmission (:meth:`packet`), SRTP-protects it in place and sends the frame. What
 * media_sender.StreamSender does in Python, for the same bytes. */
typedef struct {
    PyObject_HEAD
    int fd;
    PyObject *address; /* bytes: a struct sockaddr */
    void *ctx;
    protect_fn protect;
    int b0, pt, marker, vp8, transport;
    uint32_t ssrc;
    PyObject *ext_head, *ext_tail; /* bytes */
    unsigned char *history[HISTORY];
    int history_size[HISTORY];
    int history_room[HISTORY];
    long long octets; /* payload octets (after the extensions) of the last send_frame */
} FrameWriter;

static int writer_init(FrameWriter *w, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"fd",  "address", "ctx",      "protect",  "b0",        "pt", "marker",
                            "vp8", "ssrc",    "ext_head", "ext_tail", "transport", NULL};
    int fd, b0, pt, marker, vp8, transport;
    unsigned long long ctx, protect;
    unsigned long ssrc;
    PyObject *address, *head, *tail;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iO!KKiippkO!O!p", names, &fd, &PyBytes_Type,
                                     &address, &ctx, &protect, &b0, &pt, &marker, &vp8, &ssrc,
                                     &PyBytes_Type, &head, &PyBytes_Type, &tail, &transport))
        return -1;
    if (protect == 0 || b0 < 0 || b0 > 255 || pt < 0 || pt > 127 || ssrc > 0xFFFFFFFFUL) {
        PyErr_SetString(PyExc_ValueError, "bad protect function, first byte, payload type or SSRC");
        return -1;
    }
    if (PyBytes_GET_SIZE(head) + PyBytes_GET_SIZE(tail) + 2 > 512) {
        PyErr_SetString(PyExc_ValueError, "header extensions too long");
        return -1;
    }
    w->fd = fd;
    Py_INCREF(address);
    Py_XSETREF(w->address, address);
    w->ctx = (void *)(uintptr_t)ctx;
    w->protect = (protect_fn)(uintptr_t)protect;
    w->b0 = b0;
    w->pt = pt;
    w->marker = marker;
    w->vp8 = vp8;
    w->ssrc = (uint32_t)ssrc;
    Py_INCREF(head);
    Py_XSETREF(w->ext_head, head);
    Py_INCREF(tail);
    Py_XSETREF(w->ext_tail, tail);
    w->transport = transport;
    return 0;
}

static void writer_dealloc(FrameWriter *w) {
    for (int i = 0; i < HISTORY; i++) PyMem_Free(w->history[i]);
    Py_XDECREF(w->address);
    Py_XDECREF(w->ext_head);
    Py_XDECREF(w->ext_tail);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

/* Keeps the clear packet in out_slots[i] as the one numbered ``seq`` (its slot's buffer grows
 * to the largest packet it held, then is reused: no allocation per packet). */
static int writer_keep(FrameWriter *w, int i, unsigned seq) {
    int slot = (int)(seq & (HISTORY - 1));
    int size = out_sizes[i];
    if (w->history_room[slot] < size) {
        unsigned char *grown = PyMem_Realloc(w->history[slot], (size_t)size);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        w->history[slot] = grown;
        w->history_room[slot] = size;
    }
    memcpy(w->history[slot], out_slots[i], (size_t)size);
    w->history_size[slot] = size;
    return 0;
}

/* send_frame(chunks, seq, ts, picture_id, transport_seq, gso, send, spill, counted, drop_every,
 *            forget) -> int
 *
 * The packets of one frame, one per chunk of ``chunks`` (a list of bytes), numbered from
 * ``seq`` (and ``transport_seq``) on, with timestamp ``ts``: built, kept, and with ``send``
 * protected and sent (with ``gso``, runs of one size in one UDP GSO sendmsg; on EAGAIN the
 * protected packets the kernel did not take are appended to ``spill`` as bytes, for the
 * caller to queue: libsrtp protects a packet once); without ``send`` (the
 * transport is not connected) only numbered and kept, as PeerIo.send leaves them. Tests make
 * a lossy link: with ``drop_every`` N > 0, the stream's packets whose count (``counted`` before
 * this frame) is a multiple of N are not sent, and with ``forget`` not kept either. Returns how
 * many datagrams the kernel took; :attr:`octets` is then the frame's payload octets. A chunk
 * too long for a packet raises ValueError before anything is numbered. */
static PyObject *writer_send_frame(FrameWriter *w, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "send_frame takes 11 arguments");
        return NULL;
    }
    if (w->address == NULL || w->ext_head == NULL || w->ext_tail == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "FrameWriter was not initialised");
        return NULL;
    }
    PyObject *chunks = args[0];
    PyObject *spill = args[7];
    if (!PyList_Check(chunks) || !PyList_Check(spill)) {
        PyErr_SetString(PyExc_TypeError, "chunks and spill must be lists");
        return NULL;
    }
    unsigned long seq = PyLong_AsUnsignedLongMask(args[1]);
    unsigned long ts = PyLong_AsUnsignedLongMask(args[2]);
    unsigned long picture_id = PyLong_AsUnsignedLongMask(args[3]);
    unsigned long transport_seq = PyLong_AsUnsignedLongMask(args[4]);
    long long counted = PyLong_AsLongLong(args[8]);
    long long drop_every = PyLong_AsLongLong(args[9]);
    if (PyErr_Occurred()) return NULL;
    int forget = PyObject_IsTrue(args[10]);
    if (forget < 0) return NULL;
    int gso = PyObject_IsTrue(args[5]);
    int send = PyObject_IsTrue(args[6]);
    if (gso < 0 || send < 0) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(chunks);
    Py_ssize_t head = PyBytes_GET_SIZE(w->ext_head), tail = PyBytes_GET_SIZE(w->ext_tail);
    Py_ssize_t extensions = head + tail + (w->transport ? 2 : 0);
    Py_ssize_t before = 12 + extensions + (w->vp8 ? 4 : 0);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *chunk = PyList_GET_ITEM(chunks, i);
        if (!PyBytes_Check(chunk)) {
            PyErr_SetString(PyExc_TypeError, "chunks must be bytes");
            return NULL;
        }
        if (before + PyBytes_GET_SIZE(chunk) > SLOT - SRTP_TRAILER) {
            PyErr_SetString(PyExc_ValueError, "chunk too long for one packet");
            return NULL;
        }
    }
    const struct sockaddr *to = (const struct sockaddr *)PyBytes_AS_STRING(w->address);
    socklen_t to_len = (socklen_t)PyBytes_GET_SIZE(w->address);
    long sent = 0;
    w->octets = 0; /* what was built, also of a frame that fails below */
    /* In groups of MAX_PACKETS (one frame may be longer than one GSO send). */
    for (Py_ssize_t first = 0; first < count; first += MAX_PACKETS) {
        int group = (int)(count - first < MAX_PACKETS ? count - first : MAX_PACKETS);
        int i = 0; /* the slot of the next packet to send (a dropped one's is reused) */
        for (int k = 0; k < group; k++) {
            Py_ssize_t index = first + k;
            int dropped = drop_every > 0 && (counted + index + 1) % drop_every == 0;
            PyObject *chunk = PyList_GET_ITEM(chunks, index);
            Py_ssize_t size = PyBytes_GET_SIZE(chunk);
            unsigned number = (unsigned)((seq + (unsigned long)index) & 0xFFFF);
            unsigned char *p = out_slots[i];
            p[0] = (unsigned char)w->b0;
            p[1] = (unsigned char)(w->pt | (w->marker && index == count - 1 ? 0x80 : 0));
            p[2] = (unsigned char)(number >> 8);
            p[3] = (unsigned char)number;
            p[4] = (unsigned char)(ts >> 24);
            p[5] = (unsigned char)(ts >> 16);
            p[6] = (unsigned char)(ts >> 8);
            p[7] = (unsigned char)ts;
            p[8] = (unsigned char)(w->ssrc >> 24);
            p[9] = (unsigned char)(w->ssrc >> 16);
            p[10] = (unsigned char)(w->ssrc >> 8);
            p[11] = (unsigned char)w->ssrc;
            unsigned char *at = p + 12;
            memcpy(at, PyBytes_AS_STRING(w->ext_head), (size_t)head);
            at += head;
            if (w->transport) {
                unsigned wide = (unsigned)((transport_seq + (unsigned long)index) & 0xFFFF);
                at[0] = (unsigned char)(wide >> 8);
                at[1] = (unsigned char)wide;
                at += 2;
            }
            memcpy(at, PyBytes_AS_STRING(w->ext_tail), (size_t)tail);
            at += tail;
            if (w->vp8) {
                at[0] = index == 0 ? 0x90 : 0x80;
                at[1] = 0x80;
                at[2] = (unsigned char)(0x80 | ((picture_id >> 8) & 0x7F));
                at[3] = (unsigned char)picture_id;
                at += 4;
            }
            memcpy(at, PyBytes_AS_STRING(chunk), (size_t)size);
            at += size;
            out_sizes[i] = (int)(at - p);
            w->octets += (long long)(out_sizes[i] - 12 - extensions);
            if (!(dropped && forget) && writer_keep(w, i, number) < 0) return NULL;
            if (dropped) continue;
            if (send) {
                int length = out_sizes[i];
                int status = w->protect(w->ctx, p, &length);
                if (status != 0) {
                    PyErr_Format(PyExc_ValueError, "libsrtp status %d", status);
                    return NULL;
                }
                out_sizes[i] = length;
            }
            i++;
        }
        if (send && i > 0) {
            PyObject *taken = send_slots(w->fd, to, to_len, i, gso, spill);
            if (taken == NULL) return NULL;
            sent += PyLong_AsLong(taken);
            Py_DECREF(taken);
        }
    }
    return PyLong_FromLong(sent);
}

/* packet(seq) -> bytes | None: the clear packet numbered ``seq``, if it is still kept. */
static PyObject *writer_packet(FrameWriter *w, PyObject *arg) {
    unsigned long seq = PyLong_AsUnsignedLongMask(arg);
    if (PyErr_Occurred()) return NULL;
    int slot = (int)(seq & (HISTORY - 1));
    int size = w->history_size[slot];
    const unsigned char *p = w->history[slot];
    if (size < 12 || p == NULL || (unsigned long)(p[2] << 8 | p[3]) != (seq & 0xFFFF))
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)p, size);
}

static PyObject *writer_octets(FrameWriter *w, void *closure) {
    (void)closure;
    return PyLong_FromLongLong(w->octets);
}

static PyMethodDef writer_methods[] = {
    {"send_frame", (PyCFunction)(void (*)(void))writer_send_frame, METH_FASTCALL,
     "Build, keep, protect and send one frame's packets."},
    {"packet", (PyCFunction)writer_packet, METH_O, "The kept clear packet numbered seq."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef writer_getset[] = {
    {"octets", (getter)writer_octets, NULL, "Payload octets of the last frame.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FrameWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "benchmarks.clients.native._wire.FrameWriter",
    .tp_basicsize = sizeof(FrameWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One outgoing RTP stream's frames: built, kept, protected and sent in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)writer_init,
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_methods = writer_methods,
    .tp_getset = writer_getset,
};

/* --- receiving ---------------------------------------------------------------------------- */

#define IN_SLOTS 64
#define IN_CONTROL CMSG_SPACE(sizeof(struct timespec))

/* Reader(fd, buffers): reads many datagrams per recvmmsg into ``buffers`` (bytearrays held
 * for the reader's life), each with the kernel's receive time (SO_TIMESTAMPNS, which the
 * caller turns on). */
typedef struct {
    PyObject_HEAD
    int fd;
    int slots;
    Py_buffer views[IN_SLOTS];
    int held;
    struct mmsghdr entries[IN_SLOTS];
    struct iovec iovecs[IN_SLOTS];
    char controls[IN_SLOTS][IN_CONTROL];
    int sizes[IN_SLOTS];       /* -1: truncated */
    int64_t stamps[IN_SLOTS];  /* CLOCK_REALTIME ns; 0: none */
    Py_ssize_t truncated;
    PyObject *buffers;         /* the list, for the caller's reads of the datagrams */
} Reader;

static void reader_release(Reader *reader) {
    for (int i = 0; i < reader->held; i++) PyBuffer_Release(&reader->views[i]);
    reader->held = 0;
    Py_CLEAR(reader->buffers);
}

static int reader_init(Reader *reader, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"fd", "buffers", NULL};
    int fd;
    PyObject *buffers;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iO!", names, &fd, &PyList_Type, &buffers))
        return -1;
    reader_release(reader);
    Py_ssize_t count = PyList_GET_SIZE(buffers);
    if (count < 1 || count > IN_SLOTS) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d buffers", IN_SLOTS);
        return -1;
    }
    reader->fd = fd;
    reader->truncated = 0;
    memset(reader->entries, 0, sizeof reader->entries);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *buffer = PyList_GET_ITEM(buffers, i);
        if (!PyByteArray_Check(buffer)) {
            reader_release(reader);
            PyErr_SetString(PyExc_TypeError, "buffers must be bytearrays");
            return -1;
        }
        /* A held buffer cannot be resized, so its memory stays where recvmmsg writes. */
        if (PyObject_GetBuffer(buffer, &reader->views[i], PyBUF_WRITABLE) < 0) {
            reader_release(reader);
            return -1;
        }
        reader->held++;
        reader->iovecs[i].iov_base = reader->views[i].buf;
        reader->iovecs[i].iov_len = (size_t)reader->views[i].len;
        reader->entries[i].msg_hdr.msg_iov = &reader->iovecs[i];
        reader->entries[i].msg_hdr.msg_iovlen = 1;
    }
    reader->slots = (int)count;
    Py_INCREF(buffers);
    reader->buffers = buffers;
    return 0;
}

static void reader_dealloc(Reader *reader) {
    reader_release(reader);
    Py_TYPE(reader)->tp_free((PyObject *)reader);
}

/* read() -> int: datagrams read (0: none queued, or an error the next read gets past). */
static PyObject *reader_read(Reader *reader, PyObject *unused) {
    (void)unused;
    if (reader->slots == 0) {
        PyErr_SetString(PyExc_RuntimeError, "Reader was not initialised");
        return NULL;
    }
    for (int i = 0; i < reader->slots; i++) {
        reader->entries[i].msg_hdr.msg_control = reader->controls[i];
        reader->entries[i].msg_hdr.msg_controllen = IN_CONTROL;
        reader->entries[i].msg_hdr.msg_flags = 0;
    }
    int count = recvmmsg(reader->fd, reader->entries, (unsigned)reader->slots, MSG_DONTWAIT, NULL);
    if (count <= 0) return PyLong_FromLong(0);
    for (int i = 0; i < count; i++) {
        struct msghdr *hdr = &reader->entries[i].msg_hdr;
        int64_t stamp = 0;
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(hdr); cmsg != NULL;
             cmsg = CMSG_NXTHDR(hdr, cmsg)) {
            if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec at;
                memcpy(&at, CMSG_DATA(cmsg), sizeof at);
                stamp = (int64_t)at.tv_sec * 1000000000 + at.tv_nsec;
            }
        }
        reader->stamps[i] = stamp;
        if (hdr->msg_flags & MSG_TRUNC) {
            reader->truncated++;
            reader->sizes[i] = -1;
        } else {
            reader->sizes[i] = (int)reader->entries[i].msg_len;
        }
    }
    return PyLong_FromLong(count);
}

static int reader_index(Reader *reader, PyObject *arg) {
    long i = PyLong_AsLong(arg);
    if (i == -1 && PyErr_Occurred()) return -1;
    if (i < 0 || i >= reader->slots) {
        PyErr_SetString(PyExc_IndexError, "slot out of range");
        return -1;
    }
    return (int)i;
}

/* size(i) -> int: bytes of datagram i of the last read; -1 if it was longer than its slot. */
static PyObject *reader_size(Reader *reader, PyObject *arg) {
    int i = reader_index(reader, arg);
    return i < 0 ? NULL : PyLong_FromLong(reader->sizes[i]);
}

/* arrival_ns(i) -> int: its kernel receive time (CLOCK_REALTIME ns); 0 if none came. */
static PyObject *reader_arrival_ns(Reader *reader, PyObject *arg) {
    int i = reader_index(reader, arg);
    return i < 0 ? NULL : PyLong_FromLongLong(reader->stamps[i]);
}

/* arrival(i) -> float: the same in seconds (0.0 if none): a float for the caller's clock
 * arithmetic, which a nanosecond int would first have to be converted for. */
static PyObject *reader_arrival(Reader *reader, PyObject *arg) {
    int i = reader_index(reader, arg);
    return i < 0 ? NULL : PyFloat_FromDouble((double)reader->stamps[i] * 1e-9);
}

static PyObject *reader_truncated(Reader *reader, void *closure) {
    (void)closure;
    return PyLong_FromSsize_t(reader->truncated);
}

static PyMethodDef reader_methods[] = {
    {"read", (PyCFunction)reader_read, METH_NOARGS, "Datagrams read into the buffers."},
    {"size", (PyCFunction)reader_size, METH_O, "Bytes of datagram i; -1 if truncated."},
    {"arrival_ns", (PyCFunction)reader_arrival_ns, METH_O, "Kernel receive time of datagram i."},
    {"arrival", (PyCFunction)reader_arrival, METH_O, "The same, in seconds."},
    {NULL, NULL, 0, NULL},
};

static PyObject *reader_buffers(Reader *reader, void *closure) {
    (void)closure;
    PyObject *buffers = reader->buffers != NULL ? reader->buffers : Py_None;
    Py_INCREF(buffers);
    return buffers;
}

static PyObject *reader_slots(Reader *reader, void *closure) {
    (void)closure;
    return PyLong_FromLong(reader->slots);
}

static PyGetSetDef reader_getset[] = {
    {"buffers", (getter)reader_buffers, NULL, "The bytearrays datagrams are read into.", NULL},
    {"slots", (getter)reader_slots, NULL, "Datagrams per read (the buffers' count).", NULL},
    {"truncated", (getter)reader_truncated, NULL, "Datagrams longer than their slot.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "benchmarks.clients.native._wire.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "recvmmsg into held bytearrays, with kernel receive times.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_methods = reader_methods,
    .tp_getset = reader_getset,
};

static PyMethodDef module_methods[] = {
    {"sockaddr", make_sockaddr, METH_VARARGS, "A numeric address as a struct sockaddr."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wire", "The cheap load client's packet I/O in C.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__wire(void) {
    if (PyType_Ready(&ReaderType) < 0 || PyType_Ready(&FrameWriterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&FrameWriterType);
    if (PyModule_AddObject(m, "FrameWriter", (PyObject *)&FrameWriterType) < 0) {
        Py_DECREF(&FrameWriterType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&ReaderType);
    if (PyModule_AddObject(m, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(&ReaderType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_PACKETS", MAX_PACKETS) < 0 ||
        PyModule_AddIntConstant(m, "HISTORY", HISTORY) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
