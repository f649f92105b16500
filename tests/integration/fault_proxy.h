/* fault_proxy.h -- a TCP proxy on loopback between a client and a real server that can lose a reply.
 *
 * A lost reply is the fault behind every "was my command applied?" question: the server ran the
 * command, the client never heard, and a library that repeats the call must not be fooled by its
 * own first attempt. The proxy forwards bytes both ways on 127.0.0.1 until it is armed: then the
 * next client write containing `needle` is forwarded, the server's answer to it is read and
 * thrown away, and that client's connection is closed, so the client sees a connection error after
 * the command took effect. Connections made after that are forwarded normally.
 *
 * One thread serves every connection; no cmocka call happens on it. Assumes the client sends one
 * command and waits for its reply (as libslotguard does), so one write is one command. */
#ifndef SG_FAULT_PROXY_H
#define SG_FAULT_PROXY_H

typedef struct sg_proxy sg_proxy;

/* Listen on a free port of 127.0.0.1 and forward to 127.0.0.1:target_port. Fails the test when it
 * cannot. */
sg_proxy *sg_proxy_start(int target_port);
int sg_proxy_port(const sg_proxy *p);
/* Lose the reply to the next client write whose bytes contain `needle` (binary compare). */
void sg_proxy_lose_reply_to(sg_proxy *p, const char *needle);
/* How many replies were lost so far. */
int sg_proxy_lost(sg_proxy *p);
/* Stop the thread and close every socket. Accepts NULL. */
void sg_proxy_stop(sg_proxy *p);

#endif
