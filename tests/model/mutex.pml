/* SPDX-License-Identifier: MIT */
/*
 * tests/model/mutex.pml - the word protocol of struct hg_mutex
 * (fallback/mutex.c; the word's encoding is in include/htmgil/lock.h):
 * acquisition and release through LOCKED and WAITERS, with futex waits.
 * The starving hand-off (.serving, .next) is not modelled here; the unit
 * test tests/unit/test_mutex.c checks it.
 *
 * Shared state: the word WD, a futex sleeping flag per thread, and the
 * count CS of threads inside the critical section.
 *
 * Each of three threads takes and releases the lock twice, as the code
 * does:
 *   acquire  CAS guessing the word is 0 (0 -> LOCKED, plain LOCKED even
 *            after parking); on failure, with the value the CAS returned:
 *            if WAITERS is clear CAS it in (retry on failure), then
 *            FUTEX_WAIT for that value, then guess 0 again.
 *   release  CAS LOCKED -> 0; when that fails, CAS the value it returned
 *            to 0 and, if WAITERS was in it, wake every sleeper.
 * A futex wait is one atomic step that sleeps only while the word holds
 * the expected value; a wake clears sleeping flags in one step.
 *
 * spin checks mutual exclusion (assert CS == 1) and reports any thread left
 * asleep at the end as an invalid end state (a lost wake-up).
 *
 * Mutants (spin -DMUTANT=n), each of which spin must reject:
 *   1  the release wakes one sleeper, not all (with the plain LOCKED take,
 *      a second sleeper is never woken)
 *   2  the release frees the word without waking anybody
 *   3  a waiter sleeps without setting WAITERS first
 *   4  the acquisition CAS does not check the guess (takes a held lock)
 */
#ifndef MUTANT
#define MUTANT 0
#endif

#define LOCKED  1
#define WAITERS 2
#define NT 3

byte WD = 0;
bit sleeping[NT];
byte CS = 0;

inline futex_wait(v)
{
	atomic {
		if
		:: WD == v -> sleeping[_pid] = 1
		:: else -> skip
		fi
	};
	(sleeping[_pid] == 0)
}

inline wake()
{
	atomic {
		if
		:: MUTANT == 1 ->
			if
			:: sleeping[0] -> sleeping[0] = 0
			:: sleeping[1] -> sleeping[1] = 0
			:: sleeping[2] -> sleeping[2] = 0
			:: else -> skip
			fi
		:: else ->
			sleeping[0] = 0; sleeping[1] = 0; sleeping[2] = 0
		fi
	}
}

inline acquire()
{
	w = 0;
	do
	:: w == 0 ->
		atomic {
			if
			:: WD == 0 || MUTANT == 4 -> WD = LOCKED; got = 1
			:: else -> w = WD
			fi
		};
		if
		:: got -> break
		:: else -> skip
		fi
	:: w != 0 ->
		ok = 1;
		if
		:: (w & WAITERS) == 0 && MUTANT != 3 ->
			atomic {
				if
				:: WD == w -> WD = w | WAITERS; w = w | WAITERS
				:: else -> w = WD; ok = 0
				fi
			}
		:: else -> skip
		fi;
		if
		:: ok -> futex_wait(w); w = 0
		:: else -> skip
		fi
	od;
	got = 0
}

inline release()
{
	atomic {
		if
		:: WD == LOCKED -> WD = 0; w = 0
		:: else -> w = WD
		fi
	};
	if
	:: w != 0 ->
		do
		:: atomic {
			if
			:: WD == w -> WD = 0; break
			:: else -> w = WD
			fi
		   }
		od;
		if
		:: (w & WAITERS) && MUTANT != 2 -> wake()
		:: else -> skip
		fi
	:: else -> skip
	fi
}

active [NT] proctype T()
{
	byte w = 0;
	bit got = 0;
	bit ok = 0;
	byte round = 0;
	do
	:: round < 2 ->
		acquire();
		CS++;
		assert(CS == 1);
		CS--;
		release();
		round++
	:: else -> break
	od
}
