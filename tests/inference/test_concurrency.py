"""Many clients at once on one model: everything finishes, trainings stay in order, nothing is lost."""
from concurrent.futures import ThreadPoolExecutor

import httpx

CONTEXT = [{"role": "user", "content": "What is 4 + 4?"}]


def test_20_parallel_generations_and_2_trainings_on_one_model_all_finish_with_consecutive_revisions(server):
    key = server.create_key("crowd")
    headers = {"Authorization": f"Bearer {key}"}
    created = httpx.post(f"{server.url}/v1/models", json={"name": "busy", "parent_model": "llama-3.1-8b"},
                         headers=headers, timeout=30)
    assert created.status_code == 201

    def generate(i):
        body = {"model": "busy", "messages": CONTEXT, "max_tokens": 24, "temperature": 1.0, "seed": i,
                "stream": i % 2 == 0}
        return httpx.post(f"{server.url}/v1/generate_response", json=body, headers=headers, timeout=180)

    def train(i):
        body = {"model": "busy", "messages": CONTEXT, "learning_rate": 0.01, "learning_steps": 2,
                "responses": [{"content": "4 + 4 = 8.", "reward": 1}, {"content": f"4 + 4 = {i}.", "reward": 0}]}
        return httpx.post(f"{server.url}/v1/train", json=body, headers=headers, timeout=180)

    with ThreadPoolExecutor(max_workers=22) as pool:
        generations = [pool.submit(generate, i) for i in range(20)]
        trainings = [pool.submit(train, i) for i in range(2)]
        generated = [f.result() for f in generations]
        trained = [f.result() for f in trainings]

    assert [r.status_code for r in generated] == [200] * 20, [r.text[:300] for r in generated if r.status_code != 200][:2]
    for i, response in enumerate(generated):
        if i % 2 == 0:
            assert response.text.rstrip().endswith("data: [DONE]")
        else:
            assert response.json()["choices"][0]["message"]["content"]
    assert [r.status_code for r in trained] == [200, 200]
    assert sorted(r.json()["training"]["revision"] for r in trained) == [1, 2]
    history = httpx.get(f"{server.url}/v1/models/busy/revisions", headers=headers, timeout=30).json()
    assert [h["revision"] for h in history] == [0, 1, 2]
    assert [h["training"]["changed"] for h in history[1:]] == [True, True]
    assert httpx.get(f"{server.url}/v1/models/busy", headers=headers).json()["revision"] == 2
