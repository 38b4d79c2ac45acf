/*
 * Generated text for the knowledge-base benchmarks (rag_gen.h).
 */
#include "rag_gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const WORDS[] = {
    "возврат",   "денег",    "доставка", "заказ",    "оплата",    "картой",   "курьером",
    "адрес",     "товар",    "гарантия", "сервис",   "поддержка", "клиент",   "договор",
    "тариф",     "счёт",     "refund",   "delivery", "order",     "payment",  "card",
    "courier",   "address",  "product",  "warranty", "service",   "support",  "customer",
    "contract",  "plan",     "invoice",  "account",  "возвраты",  "заказов",  "оплаты",
    "товаров",   "клиента",  "договора", "orders",   "payments",  "products", "services",
    "customers", "accounts", "в",        "и",        "the",       "of"};
#define NWORDS (sizeof WORDS / sizeof WORDS[0])

static uint64_t rng = 0x9E3779B97F4A7C15ull;

void rag_gen_seed(uint64_t seed)
{
    rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int rag_gen_word(char *out, size_t cap)
{
    double u = (double)(next_rand() % 1000000) / 1e6;
    size_t rank = (size_t)pow(2000.0, u) - 1; /* log-uniform over 2,000 ranks */
    if (rank < NWORDS) return snprintf(out, cap, "%s", WORDS[rank]);
    return snprintf(out, cap, "%s%zu", WORDS[rank % NWORDS], rank);
}

char *rag_gen_text(size_t words)
{
    char *t = malloc(words * 24 + 1);
    if (!t) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < words; i++) {
        n += (size_t)rag_gen_word(t + n, 24);
        t[n++] = (i % 15 == 14) ? '.' : ' ';
    }
    t[n] = 0;
    return t;
}
