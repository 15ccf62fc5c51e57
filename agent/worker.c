/* worker.c - one background thread, one job in flight (see worker.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "worker.h"

struct rv_worker {
	const char *name;
	rv_worker_run_fn run;
	rv_worker_done_fn done;
	void *arg;
	pthread_t thread;
	bool started;
	int efd;                  /* the thread -> loop "job finished" signal */
	struct event *ev;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *job;                /* submitted, not yet taken by the thread */
	void *finished;           /* run, done() not yet called */
	bool in_flight;           /* from submit until done() */
	bool stop;
};

static void *thread_main(void *p)
{
	rv_worker *w = p;

	/* Linux: nice is per thread (a task). Raising it needs no privilege; a
	 * failure leaves the thread at the loop's priority, which still works. */
	errno = 0;
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
			getpriority(PRIO_PROCESS, 0) + RV_WORKER_NICE) < 0)
		(void)0;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		void *job;

		while (w->job == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->job == NULL)
			break; /* stop, and nothing left to run */
		job = w->job;
		w->job = NULL;
		pthread_mutex_unlock(&w->mu);
		w->run(w->arg, job);
		pthread_mutex_lock(&w->mu);
		w->finished = job;
		pthread_cond_broadcast(&w->cv);
		{
			uint64_t one = 1;
			/* Cannot fail short of a closed fd; the loop also polls. */
			if (write(w->efd, &one, sizeof(one)) < 0)
				(void)0;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* On the loop: the job came back. */
static void complete(rv_worker *w)
{
	void *job;

	pthread_mutex_lock(&w->mu);
	job = w->finished;
	w->finished = NULL;
	pthread_mutex_unlock(&w->mu);
	if (job == NULL)
		return;
	w->in_flight = false;
	w->done(w->arg, job);
}

static void on_efd(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0)
		(void)0; /* EAGAIN: a wait() took it already */
	complete(arg);
}

rv_worker *rv_worker_new(struct event_base *base, const char *name, rv_worker_run_fn run,
		rv_worker_done_fn done, void *arg, int *err)
{
	rv_worker *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	w->name = name;
	w->run = run;
	w->done = done;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		*err = -errno;
		goto fail;
	}
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_efd, w);
	if (w->ev == NULL || event_add(w->ev, NULL) < 0) {
		*err = -ENOMEM;
		goto fail;
	}
	rc = pthread_create(&w->thread, NULL, thread_main, w);
	if (rc != 0) {
		*err = -rc;
		goto fail;
	}
	w->started = true;
	return w;
fail:
	rv_worker_free(&w);
	return NULL;
}

int rv_worker_submit(rv_worker *w, void *job)
{
	if (w->in_flight)
		return -EBUSY;
	pthread_mutex_lock(&w->mu);
	w->job = job;
	w->in_flight = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

bool rv_worker_busy(const rv_worker *w)
{
	return w->in_flight;
}

void rv_worker_wait(rv_worker *w)
{
	if (!w->in_flight)
		return;
	pthread_mutex_lock(&w->mu);
	while (w->finished == NULL)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	complete(w);
}

void rv_worker_free(rv_worker **wp)
{
	rv_worker *w;

	if (wp == NULL || *wp == NULL)
		return;
	w = *wp;
	if (w->started) {
		rv_worker_wait(w);
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->efd >= 0)
		close(w->efd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	*wp = NULL;
}
