package dev.jvllm.common.hub;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * One repo's folder in the hub cache, in huggingface_hub's layout so Python tools share it:
 * <pre>
 * models--org--name/blobs/{etag}                 file contents, named by sha256 (LFS) or git sha1
 * models--org--name/snapshots/{commit}/{file}    relative symlinks to ../../blobs/{etag}
 * models--org--name/refs/{revision}              the commit a branch or tag pointed to
 * </pre>
 * Blobs are written under {@code blobs/{etag}.lock} and published by an atomic rename, so processes sharing
 * the cache never see a half-written blob.
 */
final class HubCache {
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    /** FileChannel locks belong to the process, so threads of one JVM take this lock first. */
    private static final ConcurrentHashMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();

    private final Path root;
    private final Path repoDir;

    HubCache(Path cacheRoot, RepoId repo) {
        this.root = cacheRoot.toAbsolutePath().normalize();
        this.repoDir = root.resolve(repo.cacheFolderName());
    }

    Path root() {
        return root;
    }

    Path repoDir() {
        return repoDir;
    }

    Path blobs() {
        return repoDir.resolve("blobs");
    }

    Path blob(String etag) {
        return blobs().resolve(etag);
    }

    Path incomplete(String etag) {
        return blobs().resolve(etag + ".incomplete");
    }

    Path snapshot(String commit) {
        return repoDir.resolve("snapshots").resolve(commit);
    }

    static boolean isCommit(String revision) {
        return COMMIT.matcher(revision).matches();
    }

    /** The commit a revision points to in the cache, or null. A commit sha is its own answer. */
    String cachedCommit(String revision) {
        if (isCommit(revision)) return revision;
        Path ref = refFile(revision);
        if (ref == null || !Files.isRegularFile(ref)) return null;
        try {
            String commit = Files.readString(ref, StandardCharsets.UTF_8).trim();
            return isCommit(commit) ? commit : null;
        } catch (IOException e) {
            return null;
        }
    }

    void writeRef(String revision, String commit) throws IOException {
        if (revision.equals(commit)) return;
        Path ref = refFile(revision);
        if (ref == null) return;
        if (commit.equals(cachedCommit(revision))) return;
        Files.createDirectories(ref.getParent());
        Path tmp = ref.resolveSibling("." + ref.getFileName() + "." + UUID.randomUUID() + ".tmp");
        Files.writeString(tmp, commit, StandardCharsets.UTF_8);
        Files.move(tmp, ref, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** refs/{revision}; revisions like refs/pr/1 nest, as in huggingface_hub. Null for a revision that escapes. */
    private Path refFile(String revision) {
        Path refs = repoDir.resolve("refs");
        Path ref = refs.resolve(revision).normalize();
        return ref.startsWith(refs) && !ref.equals(refs) ? ref : null;
    }

    /** The snapshot entry for a file, or null if the name would escape the snapshot folder. */
    Path snapshotFile(String commit, String file) {
        Path snap = snapshot(commit);
        Path p = snap.resolve(file).normalize();
        return p.startsWith(snap) && !p.equals(snap) ? p : null;
    }

    /** True when the snapshot already has this file pointing at this blob, and the blob is there. */
    boolean isLinked(Path link, String etag) {
        try {
            return Files.isSymbolicLink(link)
                    && link.getParent().resolve(Files.readSymbolicLink(link)).normalize().equals(blob(etag))
                    && Files.isRegularFile(blob(etag));
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Points snapshots/{commit}/{file} at blobs/{etag} with a relative symlink, replaced atomically. Where symlinks
     * are not allowed (some Windows setups) the blob is copied, as huggingface_hub does.
     */
    void link(Path link, String etag) throws IOException {
        if (isLinked(link, etag)) return;
        Files.createDirectories(link.getParent());
        Path target = link.getParent().relativize(blob(etag));
        Path tmp = link.resolveSibling("." + link.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try {
            Files.createSymbolicLink(tmp, target);
        } catch (UnsupportedOperationException | FileSystemException e) {
            Files.copy(blob(etag), tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Holds blobs/{etag}.lock, against other threads and other processes. */
    BlobLock lockBlob(String etag) throws IOException, InterruptedException {
        Files.createDirectories(blobs());
        Path lockFile = blobs().resolve(etag + ".lock");
        ReentrantLock jvmLock = JVM_LOCKS.computeIfAbsent(lockFile, k -> new ReentrantLock());
        jvmLock.lockInterruptibly();
        FileChannel channel = null;
        try {
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = channel.tryLock();
            if (lock == null) {
                HubModelResolver.LOG.info("waiting for another process downloading {} into {}", etag, blobs());
                lock = channel.lock();
            }
            return new BlobLock(jvmLock, channel, lock);
        } catch (IOException | RuntimeException e) {
            if (channel != null) channel.close();
            jvmLock.unlock();
            throw e;
        }
    }

    static final class BlobLock implements AutoCloseable {
        private final ReentrantLock jvmLock;
        private final FileChannel channel;
        private final FileLock lock;

        private BlobLock(ReentrantLock jvmLock, FileChannel channel, FileLock lock) {
            this.jvmLock = jvmLock;
            this.channel = channel;
            this.lock = lock;
        }

        @Override
        public void close() throws IOException {
            // The lock file stays: deleting it would let a waiter and a newcomer lock different files.
            try {
                lock.release();
                channel.close();
            } finally {
                jvmLock.unlock();
            }
        }
    }
}
