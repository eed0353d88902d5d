//! schedulerd as a library. Not built yet: the cluster issue (4) fills it in.
