/* SPDX-License-Identifier: MIT */
/*
 * tests/model/coexist.pml - the three-tier coexistence protocol of hg_run
 * (docs/design.md, "The STM tier and the coexistence protocol").
 *
 * Shared state: three data words X, Y, Z (invariant X == Y), the real lock's
 * word LW, the software sequence word SQ and the count ACT of software
 * sections in progress (hg_stm_active).  ver[] counts writes to each
 * location, so a hardware transaction can tell whether a location it read
 * or wrote was written by another party before it commits.
 *
 * Parties (one process each):
 *   Rtm   a hardware transaction: subscribes at begin (LW free and SQ even,
 *         both in its read set), reads X and Y, buffers X+1, Y+1, commits
 *         atomically only if nothing in its read set was written since it
 *         was read; because it wrote, it reads ACT just before its commit
 *         (the same atomic step: a write to ACT in between would abort it)
 *         and bumps SQ by 2 in that step only when ACT is not 0; then a
 *         second, non-conflicting transaction on Z.  After 2 aborts a
 *         section falls back to the lock tier.
 *   Stm   a NOrec software transaction as in fallback/stm.c: ACT + 1
 *         before its first attempt, snapshot an even SQ, value-logged reads
 *         that revalidate when SQ moved, commit by CAS SQ even -> odd, write
 *         back, SQ + 2, ACT - 1.  After 2 aborts it leaves the software
 *         tier (ACT - 1) and escalates to the lock tier.
 *   Lock  the lock tier (and emulated HTM, and plain sections on the
 *         lock, which take the same path): take LW, wait for SQ even and
 *         make it odd, update in place, make SQ even, free LW; or hg_run's
 *         lock-tier fast path, which leaves LW alone and holds only SQ odd.
 *         Either, nondeterministically, wherever a section falls back to
 *         the lock.
 * Every section adds 1 to X and to Y; the lock tier and software reads
 * assert X == Y (opacity: no party ever sees a torn state), and the final
 * state must be X == Y == 3, Z == 1 (no lost update: serializable), with
 * SQ even and LW free.  spin also reports invalid end states (deadlock).
 *
 * Mutants (spin -DMUTANT=n), each of which spin must reject:
 *   1  the hardware transaction does not subscribe to SQ
 *   2  the software commit writes back without the sequence bump
 *   3  the hardware writer commits without adding 2 to SQ, whatever ACT
 *   4  the lock tier takes LW without holding SQ odd
 *   5  the lock tier's fast path makes SQ odd without waiting for it to be
 *      even
 *   6  the software section announces itself (ACT + 1) after its first
 *      read instead of before its first attempt
 *   7  the hardware writer reads ACT at its begin, outside its read set
 */

#define X 0
#define Y 1
#define Z 2
#define LW 3
#define SQ 4

byte mem[3];
byte lw;
byte sq;
byte act;
byte ver[5];
byte done;

inline lock_section(a, b) {
	atomic { lw == 0 -> lw = 1; ver[LW]++ };
#if MUTANT != 4
	atomic { (sq % 2 == 0) -> sq++; ver[SQ]++ };
#endif
	a = mem[X];
	b = mem[Y];
	assert(a == b);
	mem[X] = a + 1; ver[X]++;
	mem[Y] = b + 1; ver[Y]++;
#if MUTANT != 4
	sq++; ver[SQ]++;
#endif
	lw = 0; ver[LW]++
}

inline fast_lock_section(a, b) {
#if MUTANT == 5
	atomic { sq++; ver[SQ]++ };
#else
	atomic { (sq % 2 == 0) -> sq++; ver[SQ]++ };
#endif
	a = mem[X];
	b = mem[Y];
	assert(a == b);
	mem[X] = a + 1; ver[X]++;
	mem[Y] = b + 1; ver[Y]++;
	sq++; ver[SQ]++
}

inline any_lock_section(a, b) {
	if
	:: lock_section(a, b)
	:: fast_lock_section(a, b)
	fi
}

proctype Lock() {
	byte a, b;
	any_lock_section(a, b);
	done++
}

proctype Rtm() {
	byte vlw, vsq, vx, vy, vz, rx, ry, rz, tries, ract;
	bit committed;
t1:
#if MUTANT == 1
	atomic { lw == 0 -> vlw = ver[LW]; vsq = 0 };
#else
	atomic { lw == 0 && sq % 2 == 0 -> vlw = ver[LW]; vsq = ver[SQ] };
#endif
#if MUTANT == 7
	ract = act;
#endif
	atomic { rx = mem[X]; vx = ver[X] };
	atomic { ry = mem[Y]; vy = ver[Y] };
	atomic {
		if
#if MUTANT == 1
		:: ver[LW] == vlw && ver[X] == vx && ver[Y] == vy ->
#else
		:: ver[LW] == vlw && ver[SQ] == vsq && ver[X] == vx && ver[Y] == vy ->
#endif
			mem[X] = rx + 1; ver[X]++;
			mem[Y] = ry + 1; ver[Y]++;
#if MUTANT != 7
			ract = act;
#endif
#if MUTANT != 3
			if
			:: ract != 0 -> sq = sq + 2; ver[SQ]++
			:: else -> skip
			fi;
#endif
			committed = 1
		:: else -> committed = 0
		fi
	};
	if
	:: committed == 0 && tries < 2 -> tries++; goto t1
	:: committed == 0 && tries >= 2 -> any_lock_section(rx, ry)
	:: else -> skip
	fi;
	tries = 0;
t2:
#if MUTANT == 1
	atomic { lw == 0 -> vlw = ver[LW]; vsq = 0 };
#else
	atomic { lw == 0 && sq % 2 == 0 -> vlw = ver[LW]; vsq = ver[SQ] };
#endif
	atomic { rz = mem[Z]; vz = ver[Z] };
	atomic {
		if
#if MUTANT == 1
		:: ver[LW] == vlw && ver[Z] == vz ->
#else
		:: ver[LW] == vlw && ver[SQ] == vsq && ver[Z] == vz ->
#endif
			mem[Z] = rz + 1; ver[Z]++;
			if
			:: act != 0 -> sq = sq + 2; ver[SQ]++
			:: else -> skip
			fi;
			committed = 1
		:: else -> committed = 0
		fi
	};
	if
	:: committed == 0 && tries < 2 -> tries++; goto t2
	:: committed == 0 && tries >= 2 ->
		atomic { lw == 0 -> lw = 1; ver[LW]++ };
		atomic { (sq % 2 == 0) -> sq++; ver[SQ]++ };
		mem[Z] = mem[Z] + 1; ver[Z]++;
		sq++; ver[SQ]++;
		lw = 0; ver[LW]++
	:: else -> skip
	fi;
	done++
}

proctype Stm() {
	byte snap, t, vx, vy, aborts;
	bit announced;
#if MUTANT != 6
	act++; announced = 1;
#endif
retry:
	atomic { (sq % 2 == 0) -> snap = sq };
	/* read X: the log is empty, so revalidation only moves the snapshot */
	vx = mem[X];
#if MUTANT == 6
	if
	:: announced == 0 -> act++; announced = 1
	:: else -> skip
	fi;
#endif
	do
	:: sq == snap -> break
	:: else ->
		atomic { (sq % 2 == 0) -> t = sq };
		if
		:: sq == t -> snap = t
		:: else -> skip
		fi;
		vx = mem[X]
	od;
	/* read Y: revalidate {X: vx} by value whenever SQ moved */
	vy = mem[Y];
	do
	:: sq == snap -> break
	:: else ->
		atomic { (sq % 2 == 0) -> t = sq };
		if
		:: mem[X] != vx -> goto abort
		:: else -> skip
		fi;
		if
		:: sq == t -> snap = t
		:: else -> skip
		fi;
		vy = mem[Y]
	od;
	assert(vx == vy); /* opacity */
	/* commit: CAS SQ snap -> snap + 1, revalidating while it fails */
	do
#if MUTANT == 2
	:: sq == snap -> break
#else
	:: atomic { sq == snap -> sq = snap + 1; ver[SQ]++ }; break
#endif
	:: else ->
		atomic { (sq % 2 == 0) -> t = sq };
		if
		:: mem[X] != vx || mem[Y] != vy -> goto abort
		:: else -> skip
		fi;
		if
		:: sq == t -> snap = t
		:: else -> skip
		fi
	od;
	mem[X] = vx + 1; ver[X]++;
	mem[Y] = vy + 1; ver[Y]++;
#if MUTANT != 2
	sq = snap + 2; ver[SQ]++;
#endif
	act--;
	goto fin;
abort:
	aborts++;
	if
	:: aborts < 2 -> goto retry
	:: else -> act--; any_lock_section(vx, vy)
	fi;
fin:
	done++
}

init {
	atomic {
		run Rtm();
		run Stm();
		run Lock()
	};
	done == 3;
	assert(mem[X] == 3 && mem[Y] == 3 && mem[Z] == 1);
	assert(sq % 2 == 0 && lw == 0 && act == 0)
}
